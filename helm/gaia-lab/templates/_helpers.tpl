{{/*
Names and labels shared by the GAIA Lab templates.

Resource names are fixed (gaia-lab-catalog, gaia-lab-hub, ...) because the subcharts' values, which cannot be
templated, refer to them; zero-to-jupyterhub does the same (hub, proxy-public). One release per namespace.
*/}}

{{- define "gaia-lab.labels" -}}
app.kubernetes.io/name: gaia-lab
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* The dask-gateway subchart's values, as this chart sees them (may lack the subchart's defaults). */}}
{{- define "gaia-lab.gatewayValues" -}}
{{- toYaml (index .Values "dask-gateway" | default dict) -}}
{{- end -}}

{{/* dask-gateway's fullname, computed exactly as the dask-gateway chart does. */}}
{{- define "gaia-lab.gatewayFullname" -}}
{{- $gw := include "gaia-lab.gatewayValues" . | fromYaml -}}
{{- if $gw.fullnameOverride -}}
{{- $gw.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default "dask-gateway" $gw.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The in-cluster host of dask-gateway's traefik Service. */}}
{{- define "gaia-lab.traefikHost" -}}
{{- printf "traefik-%s" (include "gaia-lab.gatewayFullname" .) | trunc 63 | trimSuffix "-" -}}.{{ .Release.Namespace }}
{{- end -}}

{{/* Settings for files/hub/gaia_lab_hub.py, as JSON. */}}
{{- define "gaia-lab.hubSettings" -}}
{{- $gw := include "gaia-lab.gatewayValues" . | fromYaml -}}
{{- $ports := dig "traefik" "service" "ports" dict $gw -}}
{{- $webPort := dig "web" "port" 80 $ports | int -}}
{{- $tcpPort := dig "tcp" "port" "web" $ports | toString -}}
{{- if eq $tcpPort "web" }}{{ $tcpPort = $webPort | toString }}{{ end -}}
{{- $prefix := dig "gateway" "prefix" "/" $gw | trimSuffix "/" -}}
{{- $host := include "gaia-lab.traefikHost" . -}}
{{- $course := .Values.gaiaLab.courseData -}}
{{- $claim := $course.existingClaim | default "gaia-lab-course-data" -}}
{{- $settings := dict
  "catalog" (dict "configMap" "gaia-lab-catalog" "mountPath" "/etc/gaia-lab" "fileName" "catalog.yaml")
  "courseData" (dict "enabled" $course.enabled "claimName" $claim "mountPath" $course.mountPath "subPath" $course.subPath)
  "gateway" (dict
    "serviceName" "dask-gateway"
    "address" (printf "http://%s:%d%s" $host $webPort $prefix)
    "proxyAddress" (printf "gateway://%s:%s" $host $tcpPort)
    "publicAddress" (printf "%s/" $prefix)
    "serviceUrl" (printf "http://%s:%d" $host $webPort)
    "workerImageFromSession" .Values.gaiaLab.gateway.workerImageFromSession)
  "extraEnv" (.Values.gaiaLab.extraEnv | default dict)
-}}
{{- toPrettyJson $settings -}}
{{- end -}}
