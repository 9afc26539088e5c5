{{/* Name of the release's objects, <= 63 characters. */}}
{{- define "vexen.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "vexen.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: include "vexen.selector" (list . "issuer") */}}
{{- define "vexen.selector" -}}
app.kubernetes.io/name: {{ (index . 0).Chart.Name }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "vexen.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The Secret holding the backend URLs: an existing one, or the chart's. */}}
{{- define "vexen.databaseSecret" -}}
{{- .Values.database.existingSecret | default (printf "%s-backends" (include "vexen.fullname" .)) -}}
{{- end -}}
{{- define "vexen.redisSecret" -}}
{{- .Values.redis.existingSecret | default (printf "%s-backends" (include "vexen.fullname" .)) -}}
{{- end -}}
{{- define "vexen.redisEnabled" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret }}true{{ end -}}
{{- end -}}

{{/* Environment both programs share. */}}
{{- define "vexen.commonEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "vexen.databaseSecret" . }}
      key: {{ if .Values.database.existingSecret }}{{ .Values.database.existingSecretKey }}{{ else }}database-url{{ end }}
{{- if include "vexen.redisEnabled" . }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "vexen.redisSecret" . }}
      key: {{ if .Values.redis.existingSecret }}{{ .Values.redis.existingSecretKey }}{{ else }}redis-url{{ end }}
{{- end }}
{{- with .Values.redis.prefix }}
- name: REDIS_PREFIX
  value: {{ . | quote }}
{{- end }}
- name: LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: TRUSTED_PROXIES
  value: {{ join "," .Values.trustedProxies | quote }}
{{- with .Values.allowedRedirectHosts }}
- name: ALLOWED_REDIRECT_HOSTS
  value: {{ join "," . | quote }}
{{- end }}
- name: METRICS_LISTEN
  value: {{ printf "0.0.0.0:%v" .Values.metrics.port | quote }}
{{- end -}}
