{{/*
A gRPC service (rooms, presence, auth): Deployment, Service, PodDisruptionBudget.
Call with (dict "root" $ "component" "rooms" "values" .Values.rooms
                "args" (list ...) "jwt" false "keys" false).
Probes: readiness and startup are native gRPC probes (grpc.health.v1: SERVING once NATS is
connected and the service's buckets exist), or with grpc.tls.enabled HTTP /readyz on the admin
port, which tells the same (the kubelet's gRPC probe speaks no TLS); liveness is HTTP /livez on
the admin port, which answers while the process runs, so a NATS outage makes the replicas
unready but never restarts them.
gRPC TLS (grpc.tls): the Secret is mounted as a directory at /etc/roomcast/grpc-tls (no subPath,
so renewals reach the pod); roomcastctl in the pod gets ROOMCAST_TLS_CA and
ROOMCAST_TLS_SERVER_NAME (and with clientAuth the pod's own pair as its client certificate).
*/}}
{{/* Readiness of a gRPC service: the native gRPC probe, or /readyz when it serves TLS. */}}
{{- define "roomcast.grpcReadyProbe" -}}
{{- if .tls -}}
httpGet:
  path: /readyz
  port: admin
{{- else -}}
grpc:
  port: {{ .port | int }}
{{- end }}
{{- end }}

{{- define "roomcast.grpcService" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- $ctx := dict "root" .root "component" .component }}
{{- $tls := .root.Values.grpc.tls }}
{{- if $tls.enabled }}
{{- $_ := required "grpc.tls.secretName is required with grpc.tls.enabled" $tls.secretName }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "roomcast.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "roomcast.labels" $ctx | trim | nindent 4 }}
spec:
  replicas: {{ $v.replicaCount | int }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "roomcast.selectorLabels" $ctx | trim | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- include "roomcast.labels" $ctx | trim | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- /* The admin token, auth the JWT secret too, and the component's NATS role password.
      Not the auth keys: the service re-reads them every keyReloadInterval, without a restart. */}}
      {{- $checksums := include "roomcast.secretChecksums" (dict "root" $root "secret" (ternary (list "admin" "jwt") (list "admin") (.jwt | default false)) "natsRoles" (list .component)) }}
      {{- with include "roomcast.podAnnotations" (dict "checksums" $checksums "podAnnotations" $v.podAnnotations) }}
      {{- . | trim | nindent 6 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "roomcast.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with include "roomcast.imagePullSecrets" $root }}
      {{- . | trim | nindent 6 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds | int }}
      {{- with include "roomcast.topologySpread" (merge (dict "values" $v "deployment" true) $ctx) }}
      {{- . | trim | nindent 6 }}
      {{- end }}
      {{- with include "roomcast.scheduling" (dict "values" $v) }}
      {{- . | trim | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "roomcast.image" (dict "root" $root "image" $v.image) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            - {{ printf "--grpc-address=%s" (include "roomcast.hostPort" (dict "host" $root.Values.listenHost "port" (int $v.grpcPort))) | quote }}
            - {{ printf "--admin-host=%s" $root.Values.listenHost | quote }}
            - {{ printf "--admin-port=%d" (int $v.adminPort) | quote }}
            {{- range .args }}
            - {{ . | quote }}
            {{- end }}
            {{- if $tls.enabled }}
            - "--grpc-tls-cert=/etc/roomcast/grpc-tls/tls.crt"
            - "--grpc-tls-key=/etc/roomcast/grpc-tls/tls.key"
            {{- if $tls.clientAuth }}
            - "--grpc-tls-client-ca=/etc/roomcast/grpc-tls/ca.crt"
            {{- end }}
            - {{ printf "--grpc-tls-reload-interval=%s" $tls.reloadInterval | quote }}
            {{- end }}
            {{- with include "roomcast.configArgs" $v.config }}
            {{- . | trim | nindent 12 }}
            {{- end }}
            {{- with $v.extraArgs }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            {{- include "roomcast.natsEnv" (dict "root" $root "role" .component) | trim | nindent 12 }}
            {{- include "roomcast.storageEnv" $root | trim | nindent 12 }}
            {{- include "roomcast.secretEnv" (dict "root" $root "admin" true "jwt" .jwt) | trim | nindent 12 }}
            {{- if $tls.enabled }}
            # For roomcastctl in the pod (kubectl exec): it dials 127.0.0.1, the certificate names
            # the Service.
            - name: ROOMCAST_TLS_CA
              value: /etc/roomcast/grpc-tls/ca.crt
            - name: ROOMCAST_TLS_SERVER_NAME
              value: {{ include "roomcast.componentName" $ctx | quote }}
            {{- if $tls.clientAuth }}
            - name: ROOMCAST_TLS_CERT
              value: /etc/roomcast/grpc-tls/tls.crt
            - name: ROOMCAST_TLS_KEY
              value: /etc/roomcast/grpc-tls/tls.key
            {{- end }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: grpc
              containerPort: {{ $v.grpcPort | int }}
              protocol: TCP
            - name: admin
              containerPort: {{ $v.adminPort | int }}
              protocol: TCP
          startupProbe:
            {{- include "roomcast.grpcReadyProbe" (dict "tls" $tls.enabled "port" $v.grpcPort) | nindent 12 }}
            {{- with include "roomcast.probeTimings" $v.startupProbe }}
            {{- . | trim | nindent 12 }}
            {{- end }}
          readinessProbe:
            {{- include "roomcast.grpcReadyProbe" (dict "tls" $tls.enabled "port" $v.grpcPort) | nindent 12 }}
            {{- with include "roomcast.probeTimings" $v.readinessProbe }}
            {{- . | trim | nindent 12 }}
            {{- end }}
          livenessProbe:
            httpGet:
              path: /livez
              port: admin
            {{- with include "roomcast.probeTimings" $v.livenessProbe }}
            {{- . | trim | nindent 12 }}
            {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with include "roomcast.natsTlsVolume" (dict "root" $root "part" "mount") }}
            {{- . | trim | nindent 12 }}
            {{- end }}
            {{- if .keys }}
            - name: keys
              mountPath: {{ $v.keys.mountPath }}
              readOnly: true
            {{- end }}
            {{- if $tls.enabled }}
            - name: grpc-tls
              mountPath: /etc/roomcast/grpc-tls
              readOnly: true
            {{- end }}
      volumes:
        {{- include "roomcast.tmpVolume" $root | trim | nindent 8 }}
        {{- with include "roomcast.natsTlsVolume" (dict "root" $root "part" "volume") }}
        {{- . | trim | nindent 8 }}
        {{- end }}
        {{- if .keys }}
        # Mounted as a directory (no subPath), so an updated Secret reaches the pod and the
        # service picks up new keys without a restart.
        - name: keys
          secret:
            secretName: {{ $v.keys.existingSecret | default (printf "%s-keys" (include "roomcast.componentName" $ctx)) }}
            defaultMode: 288 # 0440: readable by the pod's group (fsGroup)
        {{- end }}
        {{- if $tls.enabled }}
        - name: grpc-tls
          secret:
            secretName: {{ $tls.secretName }}
            defaultMode: 288 # 0440
        {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ include "roomcast.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "roomcast.labels" $ctx | trim | nindent 4 }}
    roomcast.io/metrics: "true"
    roomcast.io/job: {{ printf "roomcast-%s" .component }}
  {{- with $v.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $v.service.type }}
  selector:
    {{- include "roomcast.selectorLabels" $ctx | trim | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $v.grpcPort | int }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: admin
      port: {{ $v.adminPort | int }}
      targetPort: admin
      protocol: TCP
      appProtocol: http
{{- with include "roomcast.pdb" (merge (dict "pdb" $v.pdb) $ctx) }}
---
{{ . | trim }}
{{- end }}
{{- end }}
