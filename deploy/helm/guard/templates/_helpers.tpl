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

{{- /* Where the agent serves /healthz and /metrics: the node's loopback when it shares
the node's network and nothing scrapes it from outside (kubelet probes it there), else
every address of its own network namespace. */ -}}
{{- define "guard.listenHost" -}}
{{- if and .Values.hostNetwork (not .Values.serviceMonitor.enabled) -}}127.0.0.1{{- else -}}0.0.0.0{{- end -}}
{{- end -}}
