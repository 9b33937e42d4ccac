{{/* Data of the ConfigMap and the Secret, shared with the migrations hook's copies. */}}
{{- define "s3tasks.configmapData" -}}
STORAGE_API_S3_ENDPOINT: {{ include "s3tasks.s3Endpoint" . | quote }}
STORAGE_API_S3_REGION: {{ .Values.externalS3.region | quote }}
STORAGE_API_S3_BUCKET: {{ .Values.externalS3.bucket | quote }}
STORAGE_API_S3_CREATE_BUCKET: {{ .Values.externalS3.createBucket | quote }}
STORAGE_API_TRANSFER_MODE: {{ .Values.transfer.mode | quote }}
STORAGE_API_S3_PUBLIC_URL: {{ include "s3tasks.s3PublicUrl" . | quote }}
STORAGE_API_CORS_ORIGINS: {{ include "s3tasks.corsOrigins" . | quote }}
STORAGE_API_LINK_SECONDS: {{ .Values.transfer.linkSeconds | quote }}
STORAGE_API_SHARE_GRANT_SECONDS: {{ .Values.sharing.grantSeconds | quote }}
STORAGE_API_SHARE_LINKS_PER_ITEM: {{ .Values.sharing.linksPerItem | quote }}
STORAGE_API_RATE_LIMIT_SHARE_ATTEMPTS_PER_CLIENT: {{ .Values.sharing.attemptsPerClient | quote }}
STORAGE_API_RATE_LIMIT_SHARE_ATTEMPTS_PER_LINK: {{ .Values.sharing.attemptsPerLink | quote }}
STORAGE_API_RATE_LIMIT_SHARE_GRANTS_PER_CLIENT: {{ .Values.sharing.grantsPerClient | quote }}
STORAGE_API_RATE_LIMIT_SHARE_LINKS_PER_CLIENT: {{ .Values.sharing.linksPerClient | quote }}
STORAGE_API_RATE_LIMIT_UPLOAD_REQUESTS_PER_CLIENT: {{ .Values.sharing.requestsPerClient | quote }}
STORAGE_API_RATE_LIMIT_SESSIONS_PER_CLIENT: {{ .Values.limits.sessionsPerClient | quote }}
STORAGE_API_RATE_LIMIT_UPLOADS_PER_CLIENT: {{ .Values.limits.uploadsPerClient | quote }}
STORAGE_API_RATE_LIMIT_UPLOADS_PER_VISITOR: {{ .Values.limits.uploadsPerVisitor | quote }}
STORAGE_API_MAX_STORED_BYTES_PER_VISITOR: {{ .Values.limits.storedBytesPerVisitor | int64 | quote }}
STORAGE_API_BROKER_KEY_PREFIX: {{ .Values.config.brokerKeyPrefix | quote }}
STORAGE_API_TASK_QUEUE: {{ .Values.config.taskQueue | quote }}
STORAGE_API_IMAGE_TTL_SECONDS: {{ .Values.config.imageTtlSeconds | quote }}
STORAGE_API_FILE_TTL_SECONDS: {{ .Values.config.fileTtlSeconds | quote }}
{{- with .Values.config.maxImageBytes }}
STORAGE_API_MAX_IMAGE_BYTES: {{ . | int64 | quote }}
{{- end }}
{{- with .Values.config.maxFileBytes }}
STORAGE_API_MAX_FILE_BYTES: {{ . | int64 | quote }}
{{- end }}
STORAGE_API_LIFECYCLE_RULES: {{ .Values.bucketLifecycle.enabled | quote }}
STORAGE_API_LIFECYCLE_MARGIN_DAYS: {{ .Values.bucketLifecycle.marginDays | quote }}
STORAGE_API_LIFECYCLE_CHECK_SECONDS: {{ .Values.bucketLifecycle.checkSeconds | quote }}
{{- /* SIGTERM: the drain bound the grace period is derived from; the preStop sleep already
       waited for endpoints, so the listener closes at once (the services' own delay is for
       where no hook waits: 1 s) */}}
STORAGE_API_SHUTDOWN_DRAIN_SECONDS: {{ .Values.storageApi.shutdown.drainSeconds | quote }}
{{- if .Values.storageApi.shutdown.preStopSleepSeconds }}
STORAGE_API_SHUTDOWN_DELAY_SECONDS: "0"
{{- end }}
STORAGE_API_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
STORAGE_API_LOG_FORMAT: {{ .Values.config.logFormat | quote }}
WORKER_STORAGE_API_URL: {{ include "s3tasks.storageApiUrl" . | quote }}
WORKER_BROKER_KEY_PREFIX: {{ .Values.config.brokerKeyPrefix | quote }}
WORKER_TASK_QUEUE: {{ .Values.config.taskQueue | quote }}
WORKER_SWEEP_INTERVAL_SECONDS: {{ .Values.config.sweepIntervalSeconds | quote }}
WORKER_RECONCILE_INTERVAL_SECONDS: {{ .Values.config.reconcileIntervalSeconds | quote }}
WORKER_CONCURRENCY: {{ .Values.worker.concurrency | quote }}
WORKER_METRICS_PORT: {{ .Values.worker.containerPorts.metrics | quote }}
WORKER_STATE_DIR: "/tmp/s3tasks-worker"
WORKER_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
WORKER_LOG_FORMAT: {{ .Values.config.logFormat | quote }}
WEB_STORAGE_API_URL: {{ include "s3tasks.storageApiUrl" . | quote }}
WEB_SHUTDOWN_DRAIN_SECONDS: {{ .Values.web.shutdown.drainSeconds | quote }}
{{- if .Values.web.shutdown.preStopSleepSeconds }}
WEB_SHUTDOWN_DELAY_SECONDS: "0"
{{- end }}
WEB_PUBLIC_URL: {{ include "s3tasks.webPublicUrl" . | quote }}
WEB_CLIENT_ADDRESS_HEADER: {{ .Values.limits.clientAddressHeader | quote }}
WEB_TRUSTED_PROXIES: {{ .Values.limits.trustedProxies | quote }}
WEB_LOG_LEVEL: {{ .Values.config.logLevel | quote }}
WEB_LOG_FORMAT: {{ .Values.config.logFormat | quote }}
WEB_METRICS_HOST: "0.0.0.0"
WEB_METRICS_PORT: {{ .Values.web.containerPorts.metrics | quote }}
{{- end }}

{{- define "s3tasks.secretData" -}}
{{- $name := include "s3tasks.fullname" . }}
{{- $keys := .Values.auth.secretKeys }}
{{ $keys.databaseUrl }}: {{ include "s3tasks.databaseUrl" . | b64enc | quote }}
{{ $keys.redisUrl }}: {{ include "s3tasks.redisUrl" . | b64enc | quote }}
{{ $keys.s3AccessKey }}: {{ include "s3tasks.s3AccessKey" . | b64enc | quote }}
{{ $keys.s3SecretKey }}: {{ include "s3tasks.s3SecretKey" . | b64enc | quote }}
{{- $tokens := .Values.auth.serviceTokens }}
{{- $web := include "s3tasks.secretValue" (dict "root" . "secret" $name "key" $keys.webServiceToken "value" $tokens.web "length" 48) }}
{{- $worker := include "s3tasks.secretValue" (dict "root" . "secret" $name "key" $keys.workerServiceToken "value" $tokens.worker "length" 48) }}
{{- if eq $web $worker }}
{{- fail "auth.serviceTokens: web and worker need credentials of their own (they are equal)" }}
{{- end }}
{{ $keys.webServiceToken }}: {{ $web | b64enc | quote }}
{{ $keys.workerServiceToken }}: {{ $worker | b64enc | quote }}
{{ $keys.storageApiWebTokens }}: {{ prepend ($tokens.alsoAccepted.web | default list) $web | join "," | b64enc | quote }}
{{ $keys.storageApiWorkerTokens }}: {{ prepend ($tokens.alsoAccepted.worker | default list) $worker | join "," | b64enc | quote }}
{{ $keys.webSecretKey }}: {{ include "s3tasks.secretValue" (dict "root" . "secret" $name "key" $keys.webSecretKey "value" .Values.auth.webSecretKey "length" 64) | b64enc | quote }}
{{ $keys.shareSecret }}: {{ include "s3tasks.secretValue" (dict "root" . "secret" $name "key" $keys.shareSecret "value" .Values.auth.shareSecret "length" 64) | b64enc | quote }}
{{- end }}
