{{/*
The Deployment of one s3tasks component. Call with a dict:
  root: $, component: "web", values: .Values.web,
  args: list, ports: list of {name, containerPort}, env: extra env YAML (string),
  envFrom: bool, probes: dict of liveness/readiness/startup handlers,
  initContainers: YAML (string), strategy override via values.updateStrategy
*/}}
{{- define "s3tasks.deployment" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- $ctx := dict "root" $root "component" .component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "s3tasks.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "s3tasks.labels" $ctx | nindent 4 }}
  {{- include "s3tasks.annotations" $root | nindent 2 }}
spec:
  {{- if not (and (hasKey $v "autoscaling") $v.autoscaling.enabled) }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    {{- toYaml $v.updateStrategy | nindent 4 }}
  selector:
    matchLabels:
      {{- include "s3tasks.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "s3tasks.labels" $ctx | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- include "s3tasks.checksums" $root | nindent 8 }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "s3tasks.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- include "s3tasks.imagePullSecrets" (dict "root" $root "image" $v.image) | nindent 6 }}
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      {{- /* SIGTERM comes after the preStop sleep, and the service then takes up to its drain
             bound; 5 more seconds for the process to exit before the kubelet's SIGKILL */}}
      terminationGracePeriodSeconds: {{ add $v.shutdown.preStopSleepSeconds $v.shutdown.drainSeconds 5 }}
      {{- include "s3tasks.podScheduling" (dict "root" $root "values" $v) | nindent 6 }}
      {{- with .initContainers }}
      initContainers:
        {{- . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "s3tasks.image" (dict "root" $root "image" $v.image) | quote }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args:
            {{- toYaml .args | nindent 12 }}
          {{- with .ports }}
          ports:
            {{- range . }}
            - name: {{ .name }}
              containerPort: {{ .containerPort }}
              protocol: TCP
            {{- end }}
          {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "s3tasks.fullname" $root }}
          env:
            {{- .env | nindent 12 }}
            {{- with $v.extraEnvVars }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- range $kind := list "liveness" "readiness" "startup" }}
          {{- $probe := index $v (printf "%sProbe" $kind) }}
          {{- if $probe.enabled }}
          {{ $kind }}Probe:
            {{- include "s3tasks.probe" (dict "probe" $probe "handler" (index $.probes $kind)) | nindent 12 }}
          {{- end }}
          {{- end }}
          {{- with $v.shutdown.preStopSleepSeconds }}
          {{- /* the pod leaves the Service's endpoints when it starts terminating, but kube-proxy
                 and the ingress learn it a moment later: keep serving until they have */}}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ . }}
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $v.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 1Gi
{{- end }}

{{/* PodDisruptionBudget of a component ; (dict "root" $ "component" "web" "values" .Values.web) */}}
{{- define "s3tasks.pdb" -}}
{{- if .values.pdb.create }}
{{- $ctx := dict "root" .root "component" .component }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "s3tasks.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "s3tasks.labels" $ctx | nindent 4 }}
spec:
  {{- if .values.pdb.minAvailable }}
  minAvailable: {{ .values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .values.pdb.maxUnavailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "s3tasks.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- end }}

{{/* HorizontalPodAutoscaler of a component */}}
{{- define "s3tasks.hpa" -}}
{{- if .values.autoscaling.enabled }}
{{- $ctx := dict "root" .root "component" .component }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "s3tasks.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "s3tasks.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "s3tasks.componentName" $ctx }}
  minReplicas: {{ .values.autoscaling.minReplicas }}
  maxReplicas: {{ .values.autoscaling.maxReplicas }}
  metrics:
    {{- with .values.autoscaling.targetCPU }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with .values.autoscaling.targetMemory }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end }}
{{- end }}

{{/* ClusterIP Service of a component ; port name is the first container port's */}}
{{- define "s3tasks.service" -}}
{{- $ctx := dict "root" .root "component" .component }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "s3tasks.componentName" $ctx }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "s3tasks.labels" $ctx | nindent 4 }}
  {{- with .values.service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .values.service.type }}
  selector:
    {{- include "s3tasks.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: {{ .portName }}
      port: {{ .values.service.port }}
      targetPort: {{ .portName }}
      protocol: TCP
    {{- with .metricsPort }}
    - name: metrics
      port: {{ . }}
      targetPort: metrics
      protocol: TCP
    {{- end }}
{{- end }}

{{/* The `migrate` container (Alembic upgrade head; waits for PostgreSQL with a deadline).
     (dict "root" $ "secretName" "" "configMapName" "") */}}
{{- define "s3tasks.migrationsContainer" -}}
{{- $root := .root }}
- name: migrate
  image: {{ include "s3tasks.image" (dict "root" $root "image" $root.Values.storageApi.image) | quote }}
  imagePullPolicy: {{ $root.Values.storageApi.image.pullPolicy }}
  args: ["migrate"]
  envFrom:
    - configMapRef:
        name: {{ .configMapName | default (include "s3tasks.fullname" $root) }}
  env:
    {{- include "s3tasks.storageApi.env" (dict "root" $root "secretName" .secretName) | nindent 4 }}
  resources:
    {{- toYaml $root.Values.migrations.resources | nindent 4 }}
  securityContext:
    {{- toYaml $root.Values.storageApi.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end }}
