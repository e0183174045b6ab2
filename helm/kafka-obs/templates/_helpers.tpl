{{/*
Names and labels. The chart's name is written out ("kafka-obs") rather than read from .Chart, so
the same helpers give the same names when a parent chart includes the sidecar template.
*/}}
{{- define "kafka-obs.appVersion" -}}0.1.0{{- end -}}

{{- define "kafka-obs.name" -}}
{{- default "kafka-obs" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Takes a context with .Release and .Values (the chart's own, or kafka-obs's values from a parent). */}}
{{- define "kafka-obs.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default "kafka-obs" .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kafka-obs.aggregatorName" -}}
{{- printf "%s-aggregator" (include "kafka-obs.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kafka-obs.labels" -}}
app.kubernetes.io/name: {{ include "kafka-obs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "kafka-obs.appVersion" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kafka-obs
{{- if .Chart }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end -}}

{{/* (dict "ctx" . "component" "aggregator") */}}
{{- define "kafka-obs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kafka-obs.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* (dict "v" <kafka-obs values> "repository" "kafka-obs/agent") */}}
{{- define "kafka-obs.image" -}}
{{- $tag := .v.image.tag | default (include "kafka-obs.appVersion" .) -}}
{{- if .v.image.registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .v.image.registry) .repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The aggregator's gRPC address as agents in any namespace reach it. (context with .Release, .Values) */}}
{{- define "kafka-obs.aggregatorUrl" -}}
{{- if .Values.sidecar.aggregatorUrl -}}
{{- .Values.sidecar.aggregatorUrl -}}
{{- else -}}
{{- printf "%s://%s.%s.svc:%v" (ternary "grpcs" "grpc" .Values.aggregator.tls.enabled) (include "kafka-obs.aggregatorName" .) .Release.Namespace .Values.aggregator.grpcPort -}}
{{- end -}}
{{- end -}}

{{- define "kafka-obs.tokenSecretName" -}}
{{- .Values.aggregator.auth.existingSecret | default (printf "%s-token" (include "kafka-obs.fullname" .)) -}}
{{- end -}}

{{/*
The sidecar container, for your own pod specs. Put it as one more item under `containers:`:

  containers:
    - name: orders
      ...
    {{- include "kafka-obs.sidecar" (dict "root" $ "serviceName" "orders" "jmxPort" 9999) | nindent 4 }}

Options: serviceName (SERVICE_NAME; default the release name), jmxPort (JMX_URL=localhost:<port>),
prometheusUrl (PROMETHEUS_URL, a JMX exporter page), cluster (KAFKA_CLUSTER; default clusterName).
From a parent chart that lists kafka-obs as a dependency, the settings are its "kafka-obs" values.
AGENT_ID is the pod's name (downward API). Add the volumes of "kafka-obs.sidecarVolumes" to the pod
when the aggregator uses TLS.
*/}}
{{- define "kafka-obs.sidecar" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- if hasKey $root.Values "kafka-obs" }}{{ $v = index $root.Values "kafka-obs" }}{{ end -}}
{{- $ctx := dict "Release" $root.Release "Values" $v -}}
{{- $s := $v.sidecar -}}
- name: {{ $s.name }}
  image: {{ include "kafka-obs.image" (dict "v" $v "repository" (ternary $s.jmxRepository $s.repository $s.jre)) }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  args: ["agent"]
  env:
    - name: AGGREGATOR_URL
      value: {{ include "kafka-obs.aggregatorUrl" $ctx | quote }}
    - name: AGENT_ID
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: SERVICE_NAME
      value: {{ .serviceName | default $root.Release.Name | quote }}
    - name: KAFKA_CLUSTER
      value: {{ .cluster | default $v.clusterName | quote }}
    {{- if .jmxPort }}
    - name: JMX_URL
      value: {{ printf "localhost:%v" .jmxPort | quote }}
    {{- end }}
    {{- if .prometheusUrl }}
    - name: PROMETHEUS_URL
      value: {{ .prometheusUrl | quote }}
    {{- end }}
    - name: POLL_INTERVAL_MS
      value: {{ $s.pollIntervalMs | quote }}
    - name: AGENT_HEALTH_PORT
      value: {{ $s.healthPort | quote }}
    - name: LOG_LEVEL
      value: {{ $s.logLevel | quote }}
    {{- if $v.aggregator.auth.enabled }}
    - name: AGGREGATOR_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ $s.tokenSecret.name }}
          key: {{ $s.tokenSecret.key }}
          optional: true
    {{- end }}
    {{- if $v.aggregator.tls.enabled }}
    - name: AGGREGATOR_TLS_CA
      value: /etc/kafka-obs/aggregator-ca/ca.crt
    {{- end }}
    {{- with $s.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: kobs-health
      containerPort: {{ $s.healthPort }}
      protocol: TCP
  livenessProbe:
    httpGet:
      path: /healthz
      port: kobs-health
    initialDelaySeconds: 5
    periodSeconds: 20
    failureThreshold: 3
  {{- if $s.readinessProbe }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: kobs-health
    periodSeconds: 10
    failureThreshold: 3
  {{- end }}
  resources:
    {{- toYaml $s.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities:
      drop: [ALL]
    seccompProfile:
      type: RuntimeDefault
  {{- if $v.aggregator.tls.enabled }}
  volumeMounts:
    - name: kafka-obs-aggregator-ca
      mountPath: /etc/kafka-obs/aggregator-ca
      readOnly: true
  {{- end }}
{{- end -}}

{{/* The pod volumes the sidecar needs (none unless the aggregator uses TLS): (dict "root" $) */}}
{{- define "kafka-obs.sidecarVolumes" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- if hasKey $root.Values "kafka-obs" }}{{ $v = index $root.Values "kafka-obs" }}{{ end -}}
{{- if $v.aggregator.tls.enabled }}
- name: kafka-obs-aggregator-ca
  configMap:
    name: {{ $v.sidecar.caConfigMap }}
    optional: true
{{- end }}
{{- end -}}

{{/*
Checks the schema cannot express; each failure says what to change.
*/}}
{{- define "kafka-obs.validate" -}}
{{- if and .Values.aggregator.tls.enabled (not .Values.aggregator.tls.secretName) -}}
{{- fail "aggregator.tls.enabled needs aggregator.tls.secretName: a kubernetes.io/tls Secret with tls.crt and tls.key (and ca.crt for clientCa)" -}}
{{- end -}}
{{- if and .Values.clusterSensor.enabled (not .Values.clusterSensor.clusters) -}}
{{- fail "clusterSensor.enabled needs at least one entry in clusterSensor.clusters (name and bootstrapServers)" -}}
{{- end -}}
{{- $seen := dict -}}
{{- $servers := dict -}}
{{- range $i, $c := .Values.clusterSensor.clusters -}}
{{- if and (not $c.bootstrapServers) (not $c.bootstrapSecret) -}}
{{- fail (printf "clusterSensor.clusters[%d] (%s): set bootstrapServers (host:port,...) or bootstrapSecret {name, key}: the sensor must know where Kafka is" $i $c.name) -}}
{{- end -}}
{{- if hasKey $seen $c.name -}}
{{- fail (printf "clusterSensor.clusters[%d]: cluster %q is listed twice; one sensor per Kafka cluster (two would report every partition twice)" $i $c.name) -}}
{{- end -}}
{{- $_ := set $seen $c.name true -}}
{{- if $c.bootstrapServers -}}
{{- if hasKey $servers $c.bootstrapServers -}}
{{- fail (printf "clusterSensor.clusters[%d] (%s): bootstrap servers %q are those of cluster %q already; one sensor per Kafka cluster" $i $c.name $c.bootstrapServers (get $servers $c.bootstrapServers)) -}}
{{- end -}}
{{- $_ := set $servers $c.bootstrapServers $c.name -}}
{{- end -}}
{{- if and (hasPrefix "SASL" ($c.securityProtocol | default "PLAINTEXT")) (not $c.sasl) -}}
{{- fail (printf "clusterSensor.clusters[%d] (%s): securityProtocol %s needs sasl {mechanism, existingSecret}" $i $c.name $c.securityProtocol) -}}
{{- end -}}
{{- end -}}
{{- end -}}
