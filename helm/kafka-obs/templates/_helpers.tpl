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

{{/*
The aggregators of a release, as a YAML list of {name, component, shard}: the aggregator itself
and, with aggregator.shards, one leaf per shard. (context with .Release, .Values)
*/}}
{{- define "kafka-obs.aggregators" -}}
- name: {{ include "kafka-obs.aggregatorName" . }}
  component: aggregator
{{- range .Values.aggregator.shards }}
- name: {{ include "kafka-obs.shardName" (dict "Release" $.Release "Values" $.Values "shard" .name) }}
  component: aggregator-shard
  shard:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{/* A shard's StatefulSet and Service: <fullname>-aggregator-<shard>. (dict "Release" "Values" "shard" <name>) */}}
{{- define "kafka-obs.shardName" -}}
{{- printf "%s-%s" (include "kafka-obs.aggregatorName" .) .shard | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{/*
Whether a shard runs as an HA pair: its own haPair when set, else aggregator.haPair.enabled.
"true" or "". (dict "Values" "shard" <item of aggregator.shards>)
*/}}
{{- define "kafka-obs.haPair" -}}
{{- if hasKey .shard "haPair" -}}
{{- if .shard.haPair }}true{{ end -}}
{{- else if (.Values.aggregator.haPair | default dict).enabled -}}
true
{{- end -}}
{{- end -}}

{{/*
An HA pair's two members, each by its own stable name (the StatefulSet's pods through its headless
Service): "grpc://<sts>-0.<sts>-headless.<ns>.svc:50051,grpc://<sts>-1.…". (dict "Release" "Values" "shard" <name>)
*/}}
{{- define "kafka-obs.memberUrls" -}}
{{- $sts := include "kafka-obs.shardName" . -}}
{{- $scheme := ternary "grpcs" "grpc" .Values.aggregator.tls.enabled -}}
{{- $out := list -}}
{{- range $i := until 2 }}{{ $out = append $out (printf "%s://%s-%d.%s-headless.%s.svc:%v" $scheme $sts $i $sts $.Release.Namespace $.Values.aggregator.grpcPort) }}{{ end -}}
{{- join "," $out -}}
{{- end -}}

{{/* The labels that tell an aggregator's pods from the others': one item of kafka-obs.aggregators. */}}
{{- define "kafka-obs.aggregatorRole" -}}
app.kubernetes.io/component: {{ .component }}
{{- if .shard }}
kafka-obs.io/shard: {{ .shard.name }}
{{- end }}
{{- end -}}

{{/* (dict "ctx" <root> "t" <item of kafka-obs.aggregators>) */}}
{{- define "kafka-obs.aggregatorSelector" -}}
{{ include "kafka-obs.selectorLabels" (dict "ctx" .ctx "component" .t.component) }}
{{- if .t.shard }}
kafka-obs.io/shard: {{ .t.shard.name }}
{{- end }}
{{- end -}}

{{/* The shard that owns a Kafka cluster: its name, or nothing. (dict "Values" "cluster") */}}
{{- define "kafka-obs.shardOf" -}}
{{- $cluster := .cluster -}}
{{- range .Values.aggregator.shards }}{{ if has $cluster .clusters }}{{ .name }}{{ end }}{{ end -}}
{{- end -}}

{{/* The upstream aggregator's gRPC address, as its shards (leaves) reach it. (context with .Release, .Values) */}}
{{- define "kafka-obs.upstreamUrl" -}}
{{- printf "%s://%s.%s.svc:%v" (ternary "grpcs" "grpc" .Values.aggregator.tls.enabled) (include "kafka-obs.aggregatorName" .) .Release.Namespace .Values.aggregator.grpcPort -}}
{{- end -}}

{{/*
The gRPC address agents of a Kafka cluster send to, from any namespace: sidecar.aggregatorUrl when
set; else, with aggregator.shards, the Service of the shard that owns the cluster (a cluster in no
shard fails, naming it), or both members of the shard when it is an HA pair (comma-separated: the
agent sends every signal to each); else this release's aggregator.
(dict "Release" "Values" "cluster" <name; empty: clusterName>)
*/}}
{{- define "kafka-obs.aggregatorUrl" -}}
{{- $scheme := ternary "grpcs" "grpc" .Values.aggregator.tls.enabled -}}
{{- if .Values.sidecar.aggregatorUrl -}}
{{- .Values.sidecar.aggregatorUrl -}}
{{- else if .Values.aggregator.shards -}}
{{- $cluster := .cluster | default .Values.clusterName -}}
{{- $shard := include "kafka-obs.shardOf" (dict "Values" .Values "cluster" $cluster) -}}
{{- if not $shard -}}
{{- fail (printf "Kafka cluster %q is in no shard: add it to the clusters of one entry of aggregator.shards (now: %s), or set sidecar.aggregatorUrl" $cluster (include "kafka-obs.shardList" .)) -}}
{{- end -}}
{{- $owner := dict -}}
{{- range .Values.aggregator.shards }}{{ if eq .name $shard }}{{ $owner = . }}{{ end }}{{ end -}}
{{- if include "kafka-obs.haPair" (dict "Values" .Values "shard" $owner) -}}
{{- include "kafka-obs.memberUrls" (dict "Release" .Release "Values" .Values "shard" $shard) -}}
{{- else -}}
{{- printf "%s://%s.%s.svc:%v" $scheme (include "kafka-obs.shardName" (dict "Release" .Release "Values" .Values "shard" $shard)) .Release.Namespace .Values.aggregator.grpcPort -}}
{{- end -}}
{{- else -}}
{{- include "kafka-obs.upstreamUrl" . -}}
{{- end -}}
{{- end -}}

{{/* "prod-eu: [prod-eu], prod-us: [prod-us, prod-us-2]" for messages. */}}
{{- define "kafka-obs.shardList" -}}
{{- $out := list -}}
{{- range .Values.aggregator.shards }}{{ $out = append $out (printf "%s: [%s]" .name (join ", " .clusters)) }}{{ end -}}
{{- join "; " $out -}}
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
      value: {{ include "kafka-obs.aggregatorUrl" (merge (dict "cluster" .cluster) $ctx) | quote }}
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
{{- $owner := dict -}}
{{- $shardNames := dict -}}
{{- range $i, $s := .Values.aggregator.shards -}}
{{- if not $.Values.aggregator.enabled -}}
{{- fail "aggregator.shards needs aggregator.enabled: the aggregator is the upstream the shards forward to (a chart that only uses the sidecar template points it at a shard with sidecar.aggregatorUrl)" -}}
{{- end -}}
{{- if hasKey $shardNames $s.name -}}
{{- fail (printf "aggregator.shards[%d]: shard %q is listed twice; give each shard its own name" $i $s.name) -}}
{{- end -}}
{{- $_ := set $shardNames $s.name true -}}
{{- range $s.clusters -}}
{{- if hasKey $owner . -}}
{{- fail (printf "aggregator.shards[%d] (%s): Kafka cluster %q is already in shard %q; a cluster belongs to one shard (its incidents are explained there): remove it from one of them" $i $s.name . (get $owner .)) -}}
{{- end -}}
{{- $_ := set $owner . $s.name -}}
{{- end -}}
{{- end -}}
{{- $pairs := list -}}
{{- range .Values.aggregator.shards }}{{ if include "kafka-obs.haPair" (dict "Values" $.Values "shard" .) }}{{ $pairs = append $pairs .name }}{{ end }}{{ end -}}
{{- if and (.Values.aggregator.haPair | default dict).enabled (not .Values.aggregator.shards) -}}
{{- fail "aggregator.haPair.enabled needs an upstream: an HA pair's two members are leaves of one upstream, which merges what they decide, and in this chart that upstream is the release's aggregator with aggregator.shards. List the Kafka clusters in aggregator.shards (each shard then runs as a pair, or set haPair per shard), or set aggregator.haPair.enabled=false" -}}
{{- end -}}
{{- if $pairs -}}
{{- range list "--actors" "--ha-actors" -}}
{{- if has . $.Values.aggregator.extraArgs -}}
{{- fail (printf "aggregator.extraArgs has %s, which the HA pair members of shards %s would get too: both members would announce every incident. Actors belong on the upstream (aggregator.actors: the chart gives them to the release's aggregator only); remove %s from aggregator.extraArgs" . (join ", " $pairs) .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if .Values.aggregator.shards -}}
{{- range list "--ha-group" "--leaf-name" -}}
{{- if has . $.Values.aggregator.extraArgs -}}
{{- fail (printf "aggregator.extraArgs has %s, which the shards would get too: the chart names each shard (--leaf-name <shard>) and each HA pair (--ha-group <shard>); remove %s and use aggregator.shards[].name and aggregator.shards[].haPair (or aggregator.haPair.enabled)" . .) -}}
{{- end -}}
{{- end -}}
{{- if has "--upstream" .Values.aggregator.extraArgs -}}
{{- fail "aggregator.extraArgs has --upstream, which the shards would get too (they take the aggregator's extraArgs): with aggregator.shards the release's aggregator cannot be a leaf itself yet; remove --upstream or the shards" -}}
{{- end -}}
{{- if not (hasKey $owner .Values.clusterName) -}}
{{- fail (printf "clusterName %q is in no shard: with aggregator.shards, set clusterName (the sidecars' default cluster) to a cluster of one shard (%s), or add it to a shard's clusters" .Values.clusterName (include "kafka-obs.shardList" .)) -}}
{{- end -}}
{{- if .Values.clusterSensor.enabled -}}
{{- range $i, $c := .Values.clusterSensor.clusters -}}
{{- if not (hasKey $owner $c.name) -}}
{{- fail (printf "clusterSensor.clusters[%d]: Kafka cluster %q is in no shard: add it to the clusters of one entry of aggregator.shards (%s)" $i $c.name (include "kafka-obs.shardList" $)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
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
