{{/* Bytes of a Kubernetes-style quantity (10Gi, 256Mi, 4M, 1000). */}}
{{- define "roomcast.bytes" -}}
{{- $q := toString . }}
{{- if not (regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q) }}
{{- fail (printf "%q is not a size (a whole number with an optional Ki, Mi, Gi, Ti, k, M, G or T)" $q) }}
{{- end }}
{{- $num := regexFind "^[0-9]+" $q | int64 }}
{{- $unit := regexReplaceAll "^[0-9]+" $q "" }}
{{- $mult := get (dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776) $unit }}
{{- mul $num $mult }}
{{- end }}

{{/* The storage budgets (values `storage`; docs/operations.md, "Storage budgets") as the
ROOMCAST_STORAGE_*_MAX_BYTES of every Roomcast container, in bytes: the chart reads k, M, G, T
as powers of 1000 like Kubernetes, the services as powers of 1024, so the number is what both
agree on. A budget below 1Mi is refused here, as the services would refuse it at start. */}}
{{- define "roomcast.storageEnv" -}}
{{- range $key, $size := .Values.storage }}
{{- $bytes := include "roomcast.bytes" $size | int64 }}
{{- if lt $bytes 1048576 }}
{{- fail (printf "storage.%s (%s) is below 1Mi, the smallest budget the services accept (one NATS message)" $key (toString $size)) }}
{{- end }}
- name: {{ printf "ROOMCAST_STORAGE_%s_MAX_BYTES" (snakecase $key | upper) }}
  value: {{ $bytes | quote }}
{{- end }}
{{- end }}

{{/* Fails unless the storage budgets fit the in-chart NATS file store of each server: the
servers reserve each stream's budget from max_file_store when it is created and refuse one that
does not fit. Each server holds at most one replica of each stream, so the sum is per server. */}}
{{- define "roomcast.checkStorageFits" -}}
{{- $sum := 0 }}
{{- range $key, $size := .Values.storage }}
{{- $sum = add $sum (include "roomcast.bytes" $size | int64) }}
{{- end }}
{{- $store := include "roomcast.bytes" .Values.nats.jetstream.fileStore.size | int64 }}
{{- if gt (int64 $sum) $store }}
{{- fail (printf "the storage budgets (storage.*: %d bytes in all) do not fit the JetStream file store of each NATS server (nats.jetstream.fileStore.size %s: %d bytes): raise the file store or lower the budgets" (int64 $sum) (toString .Values.nats.jetstream.fileStore.size) $store) }}
{{- end }}
{{- end }}

{{/* The `authorization` block: a user per role of files/nats-roles.json, whose password is the
environment variable roomcast.natsPasswordVar. scripts/lib/nats-auth.mjs renders the same block
for the local stack and the e2e harness; tests/k8s checks that the two agree. */}}
{{- define "roomcast.natsAuthorization" -}}
authorization {
  users = [
{{- range $role := include "roomcast.natsRoles" . | fromJsonArray }}
    {
      user: {{ $role.name | quote }}
      password: ${{ include "roomcast.natsPasswordVar" $role.name }}
      permissions: {
{{- range $key := list "publish" "subscribe" }}
        {{ $key }}: { allow: [
{{- $subjects := index $role $key }}
{{- range $i, $subject := $subjects }}
          {{ $subject | quote }}{{ if lt (add1 $i) (len $subjects) }},{{ end }}
{{- end }}
        ] }
{{- end }}
        allow_responses: {{ $role.allow_responses }}
      }
    }
{{- end }}
  ]
}
{{- end }}

{{/* The NATS server configuration (one file for every server of the StatefulSet). */}}
{{- define "roomcast.natsConfig" -}}
{{- $n := .Values.nats -}}
# NATS server configuration, rendered by the roomcast chart.
server_name: $SERVER_NAME
listen: 0.0.0.0:{{ $n.ports.client | int }}
http: 0.0.0.0:{{ $n.ports.monitor | int }}
pid_file: /var/run/nats/nats.pid
max_payload: {{ include "roomcast.bytes" $n.maxPayload }}
lame_duck_duration: {{ $n.lameDuckDurationSeconds | int }}s
lame_duck_grace_period: 10s
{{- if $n.tls.enabled }}
# Client connections over TLS (nats.tls.secretName, mounted at /etc/nats-tls).
tls {
  cert_file: /etc/nats-tls/tls.crt
  key_file: /etc/nats-tls/tls.key
  ca_file: /etc/nats-tls/ca.crt
  timeout: 2
}
{{- end }}
# One user per role, with the permissions of files/nats-roles.json (docs/operations.md, "NATS
# roles"); each password comes from the Secret through the server's environment.
{{ include "roomcast.natsAuthorization" . | trim }}
jetstream {
  store_dir: /data/jetstream
  max_memory_store: {{ include "roomcast.bytes" $n.jetstream.memoryStore }}
  max_file_store: {{ include "roomcast.bytes" $n.jetstream.fileStore.size }}
}
{{- if gt (int $n.replicas) 1 }}
cluster {
  name: {{ $n.clusterName }}
  listen: 0.0.0.0:{{ $n.ports.cluster | int }}
  # Clients use the addresses they are given (every server is listed); pod IPs change.
  no_advertise: true
  connect_retries: 120
  routes: [
    {{- range (include "roomcast.natsPodURLs" (dict "root" . "port" $n.ports.cluster) | splitList ",") }}
    {{ . }}
    {{- end }}
  ]
}
{{- end }}
{{- end }}
