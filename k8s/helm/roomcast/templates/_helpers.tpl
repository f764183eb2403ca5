{{/*
Names, labels, image references and the pieces every component shares.
Only text/template, sprig and Helm's include/tpl/required/toYaml/toJson/fromYaml/lookup are used,
so tests/k8s/render renders this chart exactly as `helm template` does.
*/}}

{{- define "roomcast.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<chart>, or <release> when it already contains the chart name; at most 50
characters so "<fullname>-presence-admin" and the like stay within 63. */}}
{{- define "roomcast.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "roomcast.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; call with (dict "root" $ "component" "edge"). */}}
{{- define "roomcast.labels" -}}
helm.sh/chart: {{ include "roomcast.chart" .root }}
{{ include "roomcast.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: roomcast
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels; call with (dict "root" $ "component" "edge"). */}}
{{- define "roomcast.selectorLabels" -}}
app.kubernetes.io/name: {{ include "roomcast.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* Name of a component's objects: <fullname>-<component>. */}}
{{- define "roomcast.componentName" -}}
{{- printf "%s-%s" (include "roomcast.fullname" .root) .component }}
{{- end }}

{{- define "roomcast.secretName" -}}
{{- .Values.secret.existingSecret | default (printf "%s-secrets" (include "roomcast.fullname" .)) }}
{{- end }}

{{- define "roomcast.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "roomcast.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{/* A Roomcast image; call with (dict "root" $ "image" .Values.edge.image). */}}
{{- define "roomcast.image" -}}
{{- $registry := .root.Values.global.imageRegistry | default .root.Values.image.registry }}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- if $registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* Any other image (NATS, the exporter): (dict "root" $ "image" .Values.nats.image). */}}
{{- define "roomcast.thirdPartyImage" -}}
{{- $registry := .root.Values.global.imageRegistry }}
{{- if $registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .image.repository (toString .image.tag) }}
{{- else }}
{{- printf "%s:%s" .image.repository (toString .image.tag) }}
{{- end }}
{{- end }}

{{- define "roomcast.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* host:port for a listen address, bracketing IPv6 hosts. */}}
{{- define "roomcast.hostPort" -}}
{{- if contains ":" .host }}[{{ .host }}]:{{ .port }}{{ else }}{{ .host }}:{{ .port }}{{ end }}
{{- end }}

{{/* True ("true") when the chart runs its own NATS cluster. */}}
{{- define "roomcast.natsInChart" -}}
{{- if and (not .Values.nats.external.url) (not .Values.nats.external.urlSecret.name) }}true{{ end }}
{{- end }}

{{- define "roomcast.natsName" -}}
{{- printf "%s-nats" (include "roomcast.fullname" .) }}
{{- end }}

{{- define "roomcast.natsHeadlessName" -}}
{{- printf "%s-nats-headless" (include "roomcast.fullname" .) }}
{{- end }}

{{/* The in-chart NATS servers' addresses at a port: a list, one per pod; (dict "root" $ "port"
4222 "scheme" "nats"). Short names, <pod>.<headless service>, which resolve in the namespace of
the pod that looks them up (its DNS search path): nothing names the namespace, so the rendered
manifest can be moved to another one (kustomize `namespace:`) and still finds its own NATS. */}}
{{- define "roomcast.natsPodURLs" -}}
{{- $root := .root }}
{{- $urls := list }}
{{- range $i := until (int $root.Values.nats.replicas) }}
{{- $urls = append $urls (printf "%s://%s-%d.%s:%d" (get $ "scheme" | default "nats") (include "roomcast.natsName" $root) $i (include "roomcast.natsHeadlessName" $root) (int $.port)) }}
{{- end }}
{{- join "," $urls }}
{{- end }}

{{/* The roles of files/nats-roles.json (docs/operations.md, "NATS roles"), as JSON. */}}
{{- define "roomcast.natsRoles" -}}
{{- index (.Files.Get "files/nats-roles.json" | fromJson) "roles" | toJson }}
{{- end }}

{{/* The Secret holding each role's NATS password (<role>-password) and backend-url. */}}
{{- define "roomcast.natsAuthSecretName" -}}
{{- .Values.nats.auth.existingSecret | default (printf "%s-nats-auth" (include "roomcast.fullname" .)) }}
{{- end }}

{{/* True ("true") when the components connect as their roles: always, unless one URL with
credentials is given for all of them (nats.external.urlSecret). */}}
{{- define "roomcast.natsRoleCredentials" -}}
{{- if not .Values.nats.external.urlSecret.name }}true{{ end }}
{{- end }}

{{/* The NATS environment variable (nats.conf `$NATS_PASSWORD_<ROLE>`) holding a role's
password as a quoted configuration string. */}}
{{- define "roomcast.natsPasswordVar" -}}
{{- printf "NATS_PASSWORD_%s" (. | upper | replace "-" "_") }}
{{- end }}

{{/* The client side of nats.tls: the CA the components verify NATS with. */}}
{{- define "roomcast.natsTlsCaPath" -}}
/etc/roomcast/nats-tls/ca.crt
{{- end }}

{{/* ROOMCAST_NATS_URL, ROOMCAST_NATS_REPLICAS, the role's credentials and the NATS CA, for
every Roomcast container: (dict "root" $ "role" "edge"). */}}
{{- define "roomcast.natsEnv" -}}
{{- $root := .root }}
{{- $v := $root.Values.nats }}
{{- if include "roomcast.natsInChart" $root }}
- name: ROOMCAST_NATS_URL
  value: {{ include "roomcast.natsPodURLs" (dict "root" $root "port" $v.ports.client "scheme" (ternary "tls" "nats" $v.tls.enabled)) | quote }}
- name: ROOMCAST_NATS_REPLICAS
  value: {{ min (int $v.replicas) 5 | quote }}
{{- else }}
{{- if $v.external.urlSecret.name }}
- name: ROOMCAST_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.external.urlSecret.name }}
      key: {{ required "nats.external.urlSecret.key is required with nats.external.urlSecret.name" $v.external.urlSecret.key }}
{{- else }}
- name: ROOMCAST_NATS_URL
  value: {{ $v.external.url | quote }}
{{- end }}
- name: ROOMCAST_NATS_REPLICAS
  value: {{ $v.external.replicas | int | quote }}
{{- end }}
{{- if include "roomcast.natsRoleCredentials" $root }}
- name: ROOMCAST_NATS_USER
  value: {{ .role | quote }}
- name: ROOMCAST_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "roomcast.natsAuthSecretName" $root }}
      key: {{ printf "%s-password" .role }}
{{- end }}
{{- if $v.tls.enabled }}
- name: ROOMCAST_NATS_TLS_CA
  value: {{ include "roomcast.natsTlsCaPath" $root | quote }}
{{- end }}
{{- end }}

{{/* The volume and mount of the NATS CA (nats.tls) in a Roomcast pod: (dict "root" $ "part"
"volume" | "mount"); nothing without TLS. */}}
{{- define "roomcast.natsTlsVolume" -}}
{{- $tls := .root.Values.nats.tls }}
{{- if $tls.enabled }}
{{- if eq .part "volume" }}
- name: nats-tls
  secret:
    secretName: {{ required "nats.tls.secretName is required with nats.tls.enabled" $tls.secretName }}
    items:
      - key: ca.crt
        path: ca.crt
{{- else }}
- name: nats-tls
  mountPath: {{ include "roomcast.natsTlsCaPath" .root | dir }}
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/* The Secret's values as environment variables, each only where it is used;
(dict "root" $ "admin" true "jwt" true). */}}
{{- define "roomcast.secretEnv" -}}
{{- if .admin }}
- name: ROOMCAST_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "roomcast.secretName" .root }}
      key: {{ .root.Values.secret.adminTokenKey }}
{{- end }}
{{- if .jwt }}
- name: ROOMCAST_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "roomcast.secretName" .root }}
      key: {{ .root.Values.secret.jwtSecretKey }}
{{- end }}
{{- end }}

{{/* Flags from a config map of camelCase names: logLevel: debug → --log-level=debug; lists
are joined with commas, whole numbers printed as integers; nulls, empty strings and empty lists
skipped (the binary's default, "none", applies: an empty flag value would not parse as a list
item or an address). */}}
{{- define "roomcast.configArgs" -}}
{{- range $key, $value := . }}
{{- if not (or (kindIs "invalid" $value) (and (kindIs "string" $value) (eq $value "")) (and (kindIs "slice" $value) (empty $value))) }}
{{- if kindIs "slice" $value }}
- {{ printf "--%s=%s" (kebabcase $key) (join "," $value) | quote }}
{{- else if kindIs "float64" $value }}
- {{ printf "--%s=%d" (kebabcase $key) (int64 $value) | quote }}
{{- else }}
- {{ printf "--%s=%v" (kebabcase $key) $value | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Probe timings from values; the handler is the chart's. */}}
{{- define "roomcast.probeTimings" -}}
{{- range $key := list "initialDelaySeconds" "periodSeconds" "timeoutSeconds" "failureThreshold" "successThreshold" }}
{{- if hasKey $ $key }}
{{ $key }}: {{ index $ $key | int }}
{{- end }}
{{- end }}
{{- end }}

{{/* topologySpreadConstraints of a component: (dict "root" $ "component" "edge" "values" .Values.edge "deployment" true). */}}
{{- define "roomcast.topologySpread" -}}
{{- if .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml .values.topologySpreadConstraints | nindent 2 }}
{{- else if .root.Values.topologySpread.enabled }}
{{- $spread := .root.Values.topologySpread }}
{{- $ctx := . }}
topologySpreadConstraints:
{{- range $key := list $spread.zoneKey $spread.hostnameKey }}
  - maxSkew: {{ $spread.maxSkew | int }}
    topologyKey: {{ $key }}
    whenUnsatisfiable: {{ $spread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "roomcast.selectorLabels" $ctx | trim | nindent 8 }}
    {{- if and $ctx.deployment (semverCompare ">=1.27-0" $ctx.root.Capabilities.KubeVersion.Version) }}
    matchLabelKeys:
      - pod-template-hash
    {{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Scheduling fields shared by every pod spec: (dict "values" .Values.edge). */}}
{{- define "roomcast.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{/* A PodDisruptionBudget: (dict "root" $ "component" "edge" "pdb" .Values.edge.pdb). */}}
{{- define "roomcast.pdb" -}}
{{- if .pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "roomcast.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "roomcast.labels" . | trim | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" .pdb.maxUnavailable) }}
  maxUnavailable: {{ if kindIs "string" .pdb.maxUnavailable }}{{ .pdb.maxUnavailable | quote }}{{ else }}{{ .pdb.maxUnavailable | int }}{{ end }}
  {{- else }}
  minAvailable: {{ if kindIs "string" .pdb.minAvailable }}{{ .pdb.minAvailable | quote }}{{ else }}{{ .pdb.minAvailable | int }}{{ end }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "roomcast.selectorLabels" . | trim | nindent 6 }}
{{- end }}
{{- end }}

{{/* The /tmp volume of every Roomcast container (the root filesystem is read-only). */}}
{{- define "roomcast.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/* Whether the edges get the HS256 secret: when auth signs with it (no auth.keys), or when
edge.acceptHs256Tokens asks for it beside the keys. Otherwise an internet-facing edge holds no
secret that could mint tokens. */}}
{{- define "roomcast.edgeHs256" -}}
{{- if or (not .Values.auth.keys.enabled) .Values.edge.acceptHs256Tokens }}true{{ end }}
{{- end }}

{{/* "true" when lookup sees a live cluster: the release namespace's default ServiceAccount,
which every namespace has. Under `helm template`, `helm install --dry-run` (client) and GitOps
tools (Argo CD, Flux) that render without a cluster, lookup finds nothing: a generated secret
would then change on every render, so the chart requires the values instead. */}}
{{- define "roomcast.liveCluster" -}}
{{- if lookup "v1" "ServiceAccount" .Release.Namespace "default" }}true{{ end }}
{{- end }}

{{/* One value of a Secret the chart creates: the value given; else the one in the Secret in
place (an upgrade keeps it); else, with a live cluster, 48 random characters (the first
install); else a render error naming what to set. (dict "root" $ "value" <given> "existing"
<the Secret's data> "key" <data key> "name" <values path> "alt" <existingSecret path>) */}}
{{- define "roomcast.secretValue" -}}
{{- $value := .value | default (get .existing .key | default "" | b64dec) }}
{{- if and (not $value) (include "roomcast.liveCluster" .root) }}
{{- /* Drawn once per render and remembered under .Values (Helm gives every template of a
chart the same .Values map), so the Secret and the pods' checksums agree on a first install. */}}
{{- if not (hasKey .root.Values "__roomcastGenerated") }}
{{- $_ := set .root.Values "__roomcastGenerated" dict }}
{{- end }}
{{- $generated := get .root.Values "__roomcastGenerated" }}
{{- if not (hasKey $generated .name) }}
{{- $_ := set $generated .name (randAlphaNum 48) }}
{{- end }}
{{- $value = get $generated .name }}
{{- end }}
{{- required (printf "%s is required when rendering without a cluster (helm template, GitOps): set it (e.g. --set %s=$(openssl rand -hex 24)) or use %s (k8s/README.md, \"Secrets\")" .name .name .alt) $value }}
{{- end }}

{{/* The values of the Secret <fullname>-secrets as JSON, {"jwt": …, "admin": …}; {} with
secret.existingSecret. */}}
{{- define "roomcast.secretValues" -}}
{{- if .Values.secret.existingSecret }}
{{- dict | toJson }}
{{- else }}
{{- $existing := get (lookup "v1" "Secret" .Release.Namespace (include "roomcast.secretName" .)) "data" | default dict }}
{{- $jwt := include "roomcast.secretValue" (dict "root" . "value" .Values.secret.jwtSecret "existing" $existing "key" .Values.secret.jwtSecretKey "name" "secret.jwtSecret" "alt" "secret.existingSecret") }}
{{- $admin := include "roomcast.secretValue" (dict "root" . "value" .Values.secret.adminToken "existing" $existing "key" .Values.secret.adminTokenKey "name" "secret.adminToken" "alt" "secret.existingSecret") }}
{{- dict "jwt" $jwt "admin" $admin | toJson }}
{{- end }}
{{- end }}

{{/* The NATS roles' passwords of the Secret <fullname>-nats-auth as JSON, {"edge": …, …}; {}
with nats.auth.existingSecret or without role credentials. */}}
{{- define "roomcast.natsAuthValues" -}}
{{- if or .Values.nats.auth.existingSecret (not (include "roomcast.natsRoleCredentials" .)) }}
{{- dict | toJson }}
{{- else }}
{{- $existing := get (lookup "v1" "Secret" .Release.Namespace (include "roomcast.natsAuthSecretName" .)) "data" | default dict }}
{{- $passwords := dict }}
{{- range $role := include "roomcast.natsRoles" . | fromJsonArray }}
{{- $_ := set $passwords $role.name (include "roomcast.secretValue" (dict "root" $ "value" (get $.Values.nats.auth.passwords $role.name) "existing" $existing "key" (printf "%s-password" $role.name) "name" (printf "nats.auth.passwords.%s" $role.name) "alt" "nats.auth.existingSecret")) }}
{{- end }}
{{- $passwords | toJson }}
{{- end }}
{{- end }}

{{/* checksum/* annotations of a pod template as a JSON object, one per Secret the chart creates that the pod
reads, over exactly the values it reads: a changed value rolls the pods that read it and no
others. (dict "root" $ "secret" (list "jwt" "admin") "natsRoles" (list "edge")); "natsRoles"
"*" for every role (the NATS servers). A Secret given by name (existingSecret) has no content
here: after changing one, `kubectl rollout restart` the workloads that read it. */}}
{{- define "roomcast.secretChecksums" -}}
{{- $root := .root }}
{{- $secret := include "roomcast.secretValues" $root | fromJson }}
{{- $read := dict }}
{{- range $key := .secret | default list }}
{{- if hasKey $secret $key }}
{{- $_ := set $read $key (get $secret $key) }}
{{- end }}
{{- end }}
{{- $sums := dict }}
{{- if $read }}
{{- $_ := set $sums "checksum/secret" ($read | toJson | sha256sum) }}
{{- end }}
{{- $passwords := include "roomcast.natsAuthValues" $root | fromJson }}
{{- $roles := dict }}
{{- range $role, $password := $passwords }}
{{- if or (eq (toString $.natsRoles) "*") (has $role ($.natsRoles | default list)) }}
{{- $_ := set $roles $role $password }}
{{- end }}
{{- end }}
{{- if $roles }}
{{- $_ := set $sums "checksum/nats-auth" ($roles | toJson | sha256sum) }}
{{- end }}
{{- /* JSON, not YAML text: a hex digest of digits and one "e" would read back as a number. */}}
{{- $sums | toJson }}
{{- end }}

{{/* A pod template's annotations: the checksums, then podAnnotations (which win); nothing
when both are empty. (dict "checksums" <JSON object> "podAnnotations" $v.podAnnotations) */}}
{{- define "roomcast.podAnnotations" -}}
{{- $annotations := .checksums | default "{}" | fromJson }}
{{- $annotations = merge (deepCopy (.podAnnotations | default dict)) $annotations }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
