{{/* Names ---------------------------------------------------------------------------- */}}
{{- define "s3tasks.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "s3tasks.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<fullname>-<component>" ; call with (dict "root" $ "component" "web") */}}
{{- define "s3tasks.componentName" -}}
{{- printf "%s-%s" (include "s3tasks.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "s3tasks.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels ; call with (dict "root" $ "component" "web") */}}
{{- define "s3tasks.selectorLabels" -}}
app.kubernetes.io/name: {{ include "s3tasks.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "s3tasks.labels" -}}
helm.sh/chart: {{ include "s3tasks.chart" .root }}
{{ include "s3tasks.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: s3tasks
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "s3tasks.annotations" -}}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Images: registry/repository:tag@digest ; call with (dict "root" $ "image" .Values.web.image) */}}
{{- define "s3tasks.image" -}}
{{- $registry := default .root.Values.global.imageRegistry .image.registry -}}
{{- $tag := default .root.Chart.AppVersion .image.tag | toString -}}
{{- $ref := ternary .image.repository (printf "%s/%s" $registry .image.repository) (empty $registry) -}}
{{- if .image.digest -}}
{{- printf "%s:%s@%s" $ref $tag .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref $tag -}}
{{- end -}}
{{- end }}

{{- define "s3tasks.imagePullSecrets" -}}
{{- $secrets := concat .root.Values.global.imagePullSecrets (.image.pullSecrets | default list) | uniq }}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end }}

{{- define "s3tasks.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "s3tasks.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secrets ------------------------------------------------------------------------- */}}
{{- define "s3tasks.secretName" -}}
{{- default (include "s3tasks.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "s3tasks.devSecretName" -}}
{{- printf "%s-dev" (include "s3tasks.fullname" .) }}
{{- end }}

{{/*
A secret value: the one given in values, else the one already in the cluster's Secret (kept
on upgrade), else a random one generated once per rendering (shared by every template).
Call with (dict "root" $ "secret" <secret name> "key" <data key> "value" <given> "length" N).
*/}}
{{- define "s3tasks.secretValue" -}}
{{- if .value }}
{{- .value }}
{{- else }}
{{- $cacheKey := printf "%s/%s" .secret .key }}
{{- $cache := .root.Values.__generatedSecrets | default dict }}
{{- if not (hasKey $cache $cacheKey) }}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret }}
{{- $value := "" }}
{{- if and $existing (hasKey ($existing.data | default dict) .key) }}
{{- $value = index $existing.data .key | b64dec }}
{{- else }}
{{- $value = randAlphaNum (int .length) }}
{{- end }}
{{- $_ := set $cache $cacheKey $value }}
{{- $_ := set .root.Values "__generatedSecrets" $cache }}
{{- end }}
{{- index $cache $cacheKey }}
{{- end }}
{{- end }}

{{- define "s3tasks.dev.minioPassword" -}}
{{- include "s3tasks.secretValue" (dict "root" . "secret" (include "s3tasks.devSecretName" .) "key" "minio-root-password" "value" "" "length" 32) }}
{{- end }}

{{- define "s3tasks.dev.postgresPassword" -}}
{{- include "s3tasks.secretValue" (dict "root" . "secret" (include "s3tasks.devSecretName" .) "key" "postgres-password" "value" "" "length" 32) }}
{{- end }}

{{/* Connection settings: bundled (dev) or external ------------------------------------ */}}
{{- define "s3tasks.dev.minio" -}}{{ and .Values.dev.enabled .Values.dev.minio.enabled }}{{- end }}
{{- define "s3tasks.dev.postgresql" -}}{{ and .Values.dev.enabled .Values.dev.postgresql.enabled }}{{- end }}
{{- define "s3tasks.dev.redis" -}}{{ and .Values.dev.enabled .Values.dev.redis.enabled }}{{- end }}

{{- define "s3tasks.databaseUrl" -}}
{{- if eq (include "s3tasks.dev.postgresql" .) "true" }}
{{- printf "postgresql+psycopg://s3tasks:%s@%s:5432/s3tasks" (include "s3tasks.dev.postgresPassword" .) (include "s3tasks.componentName" (dict "root" . "component" "postgresql")) }}
{{- else }}
{{- required "externalDatabase.url is required (or dev.enabled, or auth.existingSecret)" .Values.externalDatabase.url }}
{{- end }}
{{- end }}

{{- define "s3tasks.redisUrl" -}}
{{- if eq (include "s3tasks.dev.redis" .) "true" }}
{{- printf "redis://%s:6379/0" (include "s3tasks.componentName" (dict "root" . "component" "redis")) }}
{{- else }}
{{- required "externalRedis.url is required (or dev.enabled, or auth.existingSecret)" .Values.externalRedis.url }}
{{- end }}
{{- end }}

{{- define "s3tasks.s3Endpoint" -}}
{{- if eq (include "s3tasks.dev.minio" .) "true" }}
{{- printf "http://%s:9000" (include "s3tasks.componentName" (dict "root" . "component" "minio")) }}
{{- else }}
{{- required "externalS3.endpoint is required (or dev.enabled)" .Values.externalS3.endpoint }}
{{- end }}
{{- end }}

{{- define "s3tasks.s3AccessKey" -}}
{{- if eq (include "s3tasks.dev.minio" .) "true" }}
{{- .Values.dev.minio.rootUser }}
{{- else }}
{{- required "externalS3.accessKey is required (or dev.enabled, or auth.existingSecret)" .Values.externalS3.accessKey }}
{{- end }}
{{- end }}

{{- define "s3tasks.s3SecretKey" -}}
{{- if eq (include "s3tasks.dev.minio" .) "true" }}
{{- include "s3tasks.dev.minioPassword" . }}
{{- else }}
{{- required "externalS3.secretKey is required (or dev.enabled, or auth.existingSecret)" .Values.externalS3.secretKey }}
{{- end }}
{{- end }}

{{/* The pages' origins allowed to send and fetch bytes to and from the bucket (comma-separated):
     transfer.corsOrigins, else in direct mode the ingress hosts. */}}
{{- define "s3tasks.corsOrigins" -}}
{{- $origins := .Values.transfer.corsOrigins }}
{{- if and (not $origins) (eq .Values.transfer.mode "direct") .Values.web.ingress.enabled }}
{{- $scheme := ternary "https" "http" (not (empty .Values.web.ingress.tls)) }}
{{- range .Values.web.ingress.hosts }}
{{- $origins = append $origins (printf "%s://%s" $scheme .host) }}
{{- end }}
{{- end }}
{{- join "," $origins }}
{{- end }}

{{/* The site's address as visitors reach it, for the share links and QR codes web shows
     (WEB_PUBLIC_URL): web.publicUrl, else the first Ingress host (https:// when the Ingress
     has TLS, as the pages' CORS origins above). Production without either is refused here
     rather than by web at start (which refuses too); development without either leaves it
     to web, which then names its own socket's address. */}}
{{- define "s3tasks.webPublicUrl" -}}
{{- $ingress := .Values.web.ingress }}
{{- if .Values.web.publicUrl }}
{{- .Values.web.publicUrl | trimSuffix "/" }}
{{- else if and $ingress.enabled $ingress.hosts }}
{{- printf "%s://%s" (ternary "https" "http" (not (empty $ingress.tls))) (first $ingress.hosts).host }}
{{- else if eq .Values.environment "production" }}
{{- required "web.publicUrl is required when environment is production and web.ingress is off: the site's address as visitors reach it (e.g. https://s3tasks.example.com), which share links and QR codes are made with" "" }}
{{- end }}
{{- end }}

{{/* The S3 endpoint browsers reach (direct mode signs for it). The bundled MinIO's Service name
     is no address a browser can use: direct mode with it needs transfer.s3PublicUrl. */}}
{{- define "s3tasks.s3PublicUrl" -}}
{{- if and (eq .Values.transfer.mode "direct") (not .Values.transfer.s3PublicUrl) (eq (include "s3tasks.dev.minio" .) "true") }}
{{- fail "transfer.mode=direct with the bundled MinIO needs transfer.s3PublicUrl: the address browsers reach MinIO at (e.g. http://localhost:9000 with a port-forward)" }}
{{- end }}
{{- .Values.transfer.s3PublicUrl }}
{{- end }}

{{/* web's page explaining an ingress's 413 (services/web: TOO_LARGE_PATH) */}}
{{- define "s3tasks.tooLargePath" -}}/upload-too-large{{- end }}

{{- define "s3tasks.storageApiUrl" -}}
{{- printf "http://%s:%d" (include "s3tasks.componentName" (dict "root" . "component" "storage-api")) (int .Values.storageApi.service.port) }}
{{- end }}

{{/* Env vars from the Secret ; call with (dict "root" $ "name" "WEB_SECRET_KEY" "key" "webSecretKey") */}}
{{- define "s3tasks.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName | default (include "s3tasks.secretName" .root) }}
      key: {{ index .root.Values.auth.secretKeys .key }}
{{- end }}

{{/* storage-api's env from the Secret ; (dict "root" $ "secretName" "") */}}
{{- define "s3tasks.storageApi.env" -}}
- name: S3TASKS_ENV
  value: {{ .root.Values.environment | quote }}
{{- range $name, $key := dict "STORAGE_API_DATABASE_URL" "databaseUrl" "STORAGE_API_BROKER_URL" "redisUrl" "STORAGE_API_S3_ACCESS_KEY" "s3AccessKey" "STORAGE_API_S3_SECRET_KEY" "s3SecretKey" "STORAGE_API_WEB_TOKENS" "storageApiWebTokens" "STORAGE_API_WORKER_TOKENS" "storageApiWorkerTokens" "STORAGE_API_SHARE_SECRET" "shareSecret" }}
{{ include "s3tasks.secretEnv" (dict "root" $.root "name" $name "key" $key "secretName" $.secretName) }}
{{- end }}
{{- end }}

{{- define "s3tasks.worker.env" -}}
- name: S3TASKS_ENV
  value: {{ .Values.environment | quote }}
{{ include "s3tasks.secretEnv" (dict "root" . "name" "WORKER_BROKER_URL" "key" "redisUrl") }}
{{ include "s3tasks.secretEnv" (dict "root" . "name" "WORKER_SERVICE_TOKEN" "key" "workerServiceToken") }}
{{- end }}

{{/* Pod-level pieces ; call with (dict "root" $ "values" .Values.web) */}}
{{- define "s3tasks.podScheduling" -}}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A probe from values ; call with (dict "probe" .Values.web.livenessProbe "handler" (dict ...)) */}}
{{- define "s3tasks.probe" -}}
{{- toYaml (merge (omit .probe "enabled") .handler) }}
{{- end }}

{{- define "s3tasks.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.auth.existingSecret }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}
