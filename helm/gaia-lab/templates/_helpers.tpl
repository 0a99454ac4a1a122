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

{{/* Settings for files/hub/gaia_lab_hub.py, as JSON: the deployment's names and addresses, and the platform spec's
session environment (its templates filled with those addresses) and roles, from files/spec.json. */}}
{{- define "gaia-lab.hubSettings" -}}
{{- $spec := .Files.Get "files/spec.json" | fromJson -}}
{{- $gw := include "gaia-lab.gatewayValues" . | fromYaml -}}
{{- $ports := dig "traefik" "service" "ports" dict $gw -}}
{{- $webPort := dig "web" "port" 80 $ports | int -}}
{{- $tcpPort := dig "tcp" "port" "web" $ports | toString -}}
{{- if eq $tcpPort "web" }}{{ $tcpPort = $webPort | toString }}{{ end -}}
{{- $prefix := dig "gateway" "prefix" "/" $gw | trimSuffix "/" -}}
{{- $host := include "gaia-lab.traefikHost" . -}}
{{- $course := .Values.gaiaLab.courseData -}}
{{- $claim := $course.existingClaim | default "gaia-lab-course-data" -}}
{{- $catalog := dict "configMap" "gaia-lab-catalog" "mountPath" "/etc/gaia-lab" "fileName" "catalog.yaml" -}}
{{- $address := printf "http://%s:%d%s" $host $webPort $prefix -}}
{{- $proxyAddress := printf "gateway://%s:%s" $host $tcpPort -}}
{{- $publicAddress := printf "%s/" $prefix -}}
{{- $environment := dict -}}
{{- range $name, $template := $spec.sessionEnvironment -}}
{{- $value := $template | replace "{catalog}" (printf "%s/%s" $catalog.mountPath $catalog.fileName) -}}
{{- $value = $value | replace "{gateway_address}" $address | replace "{gateway_proxy_address}" $proxyAddress -}}
{{- $value = $value | replace "{gateway_public_address}" $publicAddress -}}
{{- $_ := set $environment $name $value -}}
{{- end -}}
{{- if .Values.gaiaLab.gateway.workerImageFromSession -}}
{{- range $name, $value := $spec.imageOptionEnvironment }}{{ $_ := set $environment $name $value }}{{ end -}}
{{- end -}}
{{- $settings := dict
  "catalog" $catalog
  "courseData" (dict "enabled" $course.enabled "claimName" $claim "mountPath" $course.mountPath "subPath" $course.subPath)
  "gateway" (dict
    "serviceName" $spec.gatewayService
    "address" $address
    "proxyAddress" $proxyAddress
    "publicAddress" $publicAddress
    "serviceUrl" (printf "http://%s:%d" $host $webPort)
    "workerImageFromSession" .Values.gaiaLab.gateway.workerImageFromSession)
  "sessionEnvironment" $environment
  "roles" $spec.roles
  "extraEnv" (include "gaia-lab.extraEnv" . | fromJson)
  "usage" (.Values.gaiaLab.usage | default dict)
-}}
{{- toPrettyJson $settings -}}
{{- end -}}

{{/* Sessions' extra environment: the operator's gaiaLab.extraEnv over where sessions reach the STAC API. */}}
{{- define "gaia-lab.extraEnv" -}}
{{- $env := deepCopy (.Values.gaiaLab.extraEnv | default dict) -}}
{{- if .Values.gaiaLab.stac.enabled -}}
{{- $env = merge $env (dict "GAIA_LAB_STAC_URL" .Values.gaiaLab.stac.sessionUrl) -}}
{{- end -}}
{{- toJson $env -}}
{{- end -}}
