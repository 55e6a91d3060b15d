{{/* Names, labels and the audit command line shared by the templates. */}}

{{- define "zone-auditor.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "zone-auditor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "zone-auditor.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "zone-auditor.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "zone-auditor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zone-auditor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "zone-auditor.labels" -}}
{{ include "zone-auditor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "zone-auditor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "zone-auditor.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap holding control packs, "" when the shipped packs are used. */}}
{{- define "zone-auditor.controlsConfigMap" -}}
{{- if .Values.controls.existingConfigMap -}}
{{- .Values.controls.existingConfigMap -}}
{{- else if .Values.controls.inline -}}
{{- printf "%s-controls" (include "zone-auditor.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "zone-auditor.waiversConfigMap" -}}
{{- if .Values.waivers.existingConfigMap -}}
{{- .Values.waivers.existingConfigMap -}}
{{- else if .Values.waivers.inline -}}
{{- printf "%s-waivers" (include "zone-auditor.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "zone-auditor.zonesConfigMap" -}}
{{- if .Values.zones.existingConfigMap -}}
{{- .Values.zones.existingConfigMap -}}
{{- else if .Values.zones.inline -}}
{{- printf "%s-zones" (include "zone-auditor.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* `auditor audit` arguments after --live --in-cluster (shell words, single-quoted). */}}
{{- define "zone-auditor.auditArgs" -}}
{{- $dir := "/controls" -}}
{{- if include "zone-auditor.controlsConfigMap" . -}}
{{- $dir = "/etc/zone-auditor/controls" -}}
{{- end -}}
{{- range .Values.controls.packs }}
{{- if and $.Values.controls.inline (not $.Values.controls.existingConfigMap) (not (hasKey $.Values.controls.inline (printf "%s.yaml" .))) }}
{{- fail (printf "controls.packs names %s but controls.inline has no %s.yaml" . .) }}
{{- end }} --controls {{ printf "%s/%s.yaml" $dir . | squote }}{{ end -}}
{{- if include "zone-auditor.waiversConfigMap" . }} --waivers /etc/zone-auditor/waivers/waivers.yaml{{ end -}}
{{- if include "zone-auditor.zonesConfigMap" . }} --zones /etc/zone-auditor/zones/zones.yaml{{ end -}}
{{- range .Values.extraArgs }} {{ . | squote }}{{ end -}}
{{- end -}}

{{- define "zone-auditor.reportsClaim" -}}
{{- .Values.reports.persistence.existingClaim | default (printf "%s-reports" (include "zone-auditor.fullname" .)) -}}
{{- end -}}

{{/* The history store (docs/history.md): the cluster's name and AUDITOR_HISTORY, either the
SQLite file on the reports volume or the PostgreSQL URL read from a Secret. */}}
{{- define "zone-auditor.historyEnv" -}}
- name: AUDITOR_CLUSTER
  value: {{ .Values.history.cluster | default .Release.Name | quote }}
{{- if .Values.history.url.existingSecret }}
- name: AUDITOR_HISTORY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.history.url.existingSecret }}
      key: {{ .Values.history.url.secretKey }}
{{- else }}
- name: AUDITOR_HISTORY
  value: {{ .Values.history.path | quote }}
{{- end }}
{{- end -}}
