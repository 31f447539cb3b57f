{{- define "guard.name" -}}
{{- default "guard-agent" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "guard.labels" -}}
app.kubernetes.io/name: {{ include "guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: guard
{{- end -}}

{{- define "guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
