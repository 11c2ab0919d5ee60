{{/* The FocalPoint's name: focalPointName, or "<release>-poc". */}}
{{- define "cybercoop-stack.focalPointName" -}}
{{- default (printf "%s-poc" .Release.Name) .Values.focalPointName -}}
{{- end -}}

{{/* The EvidenceVault's name: vault.name, or "<release>-evidence". */}}
{{- define "cybercoop-stack.vaultName" -}}
{{- default (printf "%s-evidence" .Release.Name) .Values.vault.name -}}
{{- end -}}

{{/* A peer's CooperationChannel name: its name, or "to-<provider>", or "to-<country in lower case>". */}}
{{- define "cybercoop-stack.channelName" -}}
{{- if .name -}}
{{- .name -}}
{{- else if .provider -}}
{{- printf "to-%s" .provider -}}
{{- else -}}
{{- printf "to-%s" (lower (.country | default "")) -}}
{{- end -}}
{{- end -}}

{{/* Who the stack is, for comments and NOTES: "the provider <name> (<id>), established in <country>" for a service provider, "<country>'s 24/7 point of contact" for a State. */}}
{{- define "cybercoop-stack.focalPointRole" -}}
{{- with .Values.serviceProvider -}}
{{- printf "the provider %s (%s), established in %s" (.name | default "" | replace "\n" " ") .id $.Values.country -}}
{{- else -}}
{{- printf "%s's 24/7 point of contact" .Values.country -}}
{{- end -}}
{{- end -}}

{{/* Who a peer is, for comments and NOTES: "the provider <provider>", or the State's country code. */}}
{{- define "cybercoop-stack.peerParty" -}}
{{- if .provider -}}
{{- printf "the provider %s" .provider -}}
{{- else -}}
{{- .country -}}
{{- end -}}
{{- end -}}

{{/* The file a party's CA certificate travels in: "<provider>-ca.pem" or "<country in lower case>-national-ca.pem"; .provider is a provider's id, .country a State's code. */}}
{{- define "cybercoop-stack.caFile" -}}
{{- if .provider -}}
{{- printf "%s-ca.pem" .provider -}}
{{- else -}}
{{- printf "%s-national-ca.pem" (lower .country) -}}
{{- end -}}
{{- end -}}

{{/* Non-empty when the authority or the first contact is still the illustrative default of values.yaml. */}}
{{- define "cybercoop-stack.usesExampleValues" -}}
{{- if or (hasPrefix "National cybercrime point of contact (example" .Values.authority) (eq (dig "email" "" (index .Values.contacts 0)) "duty@cybercrime.example") -}}true{{- end -}}
{{- end -}}

{{/* Labels every object carries, then the user's labels. */}}
{{- define "cybercoop-stack.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cybercoop
{{- with .Values.labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* metadata.labels and, if any, metadata.annotations of an object; "component" is its app.kubernetes.io/component. */}}
{{- define "cybercoop-stack.metadata" -}}
{{- $ := .root -}}
namespace: {{ $.Release.Namespace }}
labels:
  {{- include "cybercoop-stack.labels" $ | nindent 2 }}
  app.kubernetes.io/component: {{ .component }}
{{- with $.Values.annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A leaf-certificate block (leafDuration, leafRenewBefore) without its empty values; empty when both are. */}}
{{- define "cybercoop-stack.leafCertificates" -}}
{{- with .leafDuration }}
leafDuration: {{ . | quote }}
{{- end }}
{{- with .leafRenewBefore }}
leafRenewBefore: {{ . | quote }}
{{- end }}
{{- end -}}

{{/*
cybercoop-stack.checkDuration fails unless the duration .value (empty: not set) lies
within [.min, .max] (either bound may be empty); .message is the CRD's message.
*/}}
{{- define "cybercoop-stack.checkDuration" -}}
{{- if .value -}}
{{- $seconds := durationSeconds .value -}}
{{- if or (and .min (lt $seconds (durationSeconds .min))) (and .max (gt $seconds (durationSeconds .max))) -}}
{{- fail (printf "%s is %q: %s" .path .value .message) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Checks of a leaf-certificate block .certs at .path, as the CRDs' LeafCertificateSpec rules. */}}
{{- define "cybercoop-stack.checkLeafCertificates" -}}
{{- $c := .certs | default dict -}}
{{- include "cybercoop-stack.checkDuration" (dict "path" (printf "%s.leafDuration" .path) "value" $c.leafDuration "min" "1h" "max" "8760h" "message" "must be between 1h and 8760h (365 days)") -}}
{{- include "cybercoop-stack.checkDuration" (dict "path" (printf "%s.leafRenewBefore" .path) "value" $c.leafRenewBefore "min" "5m" "message" "must be at least 5m") -}}
{{- if and $c.leafDuration $c.leafRenewBefore (ge (durationSeconds $c.leafRenewBefore) (durationSeconds $c.leafDuration)) -}}
{{- fail (printf "%s: leafRenewBefore must be shorter than leafDuration (%s is not shorter than %s)" .path $c.leafRenewBefore $c.leafDuration) -}}
{{- end -}}
{{- end -}}

{{/*
cybercoop-stack.validate refuses, with the CRDs' words, what values.schema.json cannot
express: rules between two values, duration bounds, names that collide, and names too long
for the objects the operator derives from them. focalpoint.yaml includes it; a failure fails
the whole render, so no object is rendered from values it would refuse.
*/}}
{{- define "cybercoop-stack.validate" -}}
{{- $v := .Values -}}
{{- $fp := include "cybercoop-stack.focalPointName" . -}}
{{- if gt (len $fp) 55 -}}
{{- fail (printf "the FocalPoint's name %q (release name + \"-poc\") is %d characters; at most 55 leave room for its gateway Service \"<name>-gateway\": set focalPointName, or choose a shorter release name" $fp (len $fp)) -}}
{{- end -}}
{{- if $v.vault.enabled -}}
{{- $ev := include "cybercoop-stack.vaultName" . -}}
{{- if gt (len $ev) 46 -}}
{{- fail (printf "the EvidenceVault's name %q (release name + \"-evidence\") is %d characters; at most 46 leave room for its StatefulSet's pod and revision names: set vault.name, or choose a shorter release name" $ev (len $ev)) -}}
{{- end -}}
{{- include "cybercoop-stack.checkDuration" (dict "path" "vault.keyRotation.interval" "value" (dig "keyRotation" "interval" "" $v.vault) "min" "1h" "message" "keyRotation.interval must be at least 1h") -}}
{{- include "cybercoop-stack.checkDuration" (dict "path" "vault.verification.interval" "value" (dig "verification" "interval" "" $v.vault) "min" "5m" "message" "verification.interval must be at least 5m") -}}
{{- include "cybercoop-stack.checkLeafCertificates" (dict "path" "vault.certificates" "certs" $v.vault.certificates) -}}
{{- end -}}
{{- range $i, $shift := $v.roster.shifts -}}
{{- if eq $shift.start $shift.end -}}
{{- fail (printf "roster.shifts[%d]: start and end must differ: a shift from a time to the same time covers nothing (use 00:00 to 24:00 for a whole day)" $i) -}}
{{- end -}}
{{- end -}}
{{- $certs := $v.certificates | default dict -}}
{{- include "cybercoop-stack.checkLeafCertificates" (dict "path" "certificates" "certs" $certs) -}}
{{- include "cybercoop-stack.checkDuration" (dict "path" "certificates.caDuration" "value" $certs.caDuration "min" "24h" "max" "175200h" "message" "caDuration must be between 24h and 175200h (20 years)") -}}
{{- include "cybercoop-stack.checkDuration" (dict "path" "certificates.caRenewBefore" "value" $certs.caRenewBefore "min" "1h" "message" "caRenewBefore must be at least 1h") -}}
{{- if and $certs.caRenewBefore (ge (durationSeconds $certs.caRenewBefore) (durationSeconds (default "43800h" $certs.caDuration))) -}}
{{- fail (printf "certificates: caRenewBefore must be shorter than caDuration (default 43800h): %s is not shorter than %s" $certs.caRenewBefore (default "43800h" $certs.caDuration)) -}}
{{- end -}}
{{- if dig "issuerRef" "name" "" $certs -}}
{{- if eq $certs.caRotationPolicy "ReplaceKey" -}}
{{- fail "certificates: caRotationPolicy ReplaceKey applies to the operator's own CA and cannot be combined with issuerRef: the issuer's CA is rotated by whoever runs it" -}}
{{- end -}}
{{- if or $certs.caDuration $certs.caRenewBefore -}}
{{- fail "certificates: caDuration and caRenewBefore apply to the operator's own CA and cannot be combined with issuerRef: the issuer's CA lifetime is set where the issuer is configured" -}}
{{- end -}}
{{- end -}}
{{- $serviceProvider := $v.serviceProvider | default dict -}}
{{- /* The orders a service provider receives (articles 25 to 27 and 34), as the CRD's rule on channels to a provider. */ -}}
{{- $providerTypes := list "Preservation" "TrafficDataDisclosure" "StoredDataAccess" "SubscriberInformation" "ContentRemoval" -}}
{{- $providerTypesText := "Preservation, TrafficDataDisclosure, StoredDataAccess, SubscriberInformation and ContentRemoval" -}}
{{- $countries := dict -}}
{{- $providers := dict -}}
{{- $names := dict -}}
{{- range $i, $peer := $v.peers -}}
{{- if $peer.provider -}}
{{- if $serviceProvider.id -}}
{{- fail (printf "peers[%d].provider %s: this stack is the service provider %s's endpoint, and a provider answers authorities, not other providers: its peers are States (peers[%d].country)" $i $peer.provider $serviceProvider.id $i) -}}
{{- end -}}
{{- if hasKey $providers $peer.provider -}}
{{- fail (printf "peers[%d].provider %s is already the provider of peers[%v]: declare one channel per provider" $i $peer.provider (get $providers $peer.provider)) -}}
{{- end -}}
{{- $_ := set $providers $peer.provider $i -}}
{{- range $j, $type := $peer.requestTypes -}}
{{- if not (has $type $providerTypes) -}}
{{- fail (printf "peers[%d].requestTypes[%d] %s: a channel to a service provider carries only %s (articles 25 to 27 and 34)" $i $j $type $providerTypesText) -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- if and (eq $peer.country $v.country) (not $serviceProvider.id) -}}
{{- fail (printf "peers[%d].country %s is this stack's own country: a channel connects to another State" $i $peer.country) -}}
{{- end -}}
{{- if hasKey $countries $peer.country -}}
{{- fail (printf "peers[%d].country %s is already the country of peers[%v]: declare one channel per peer State" $i $peer.country (get $countries $peer.country)) -}}
{{- end -}}
{{- $_ := set $countries $peer.country $i -}}
{{- if $serviceProvider.id -}}
{{- range $j, $type := $peer.requestTypes -}}
{{- if not (has $type $providerTypes) -}}
{{- fail (printf "peers[%d].requestTypes[%d] %s: the service provider %s receives only %s (articles 25 to 27 and 34); its gateway would never accept it" $i $j $type $serviceProvider.id $providerTypesText) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $name := include "cybercoop-stack.channelName" $peer -}}
{{- if gt (len $name) 63 -}}
{{- fail (printf "peers[%d]: the channel name %q (\"to-\" + provider) is %d characters; at most 63 fit the label app.kubernetes.io/instance the operator puts on the channel's certificate and trust objects: set peers[%d].name" $i $name (len $name) $i) -}}
{{- end -}}
{{- if hasKey $names $name -}}
{{- fail (printf "peers[%d]: the channel name %q is already the name of peers[%v]'s channel: give one of them another name" $i $name (get $names $name)) -}}
{{- end -}}
{{- $_ := set $names $name $i -}}
{{- include "cybercoop-stack.checkDuration" (dict "path" (printf "peers[%d].probe.interval" $i) "value" (($peer.probe | default dict).interval) "min" "10s" "max" "24h" "message" "probe.interval must be between 10s and 24h") -}}
{{- $types := dict -}}
{{- range $j, $d := ($peer.deadlines | default list) -}}
{{- if hasKey $types $d.type -}}
{{- fail (printf "peers[%d].deadlines[%d]: %s already has a deadline in peers[%d].deadlines[%v]: one per request type" $i $j $d.type $i (get $types $d.type)) -}}
{{- end -}}
{{- $_ := set $types $d.type $j -}}
{{- include "cybercoop-stack.checkDuration" (dict "path" (printf "peers[%d].deadlines[%d].within" $i $j) "value" $d.within "min" "15m" "max" "8760h" "message" "deadlines[].within must be between 15m and 8760h (365 days)") -}}
{{- end -}}
{{- include "cybercoop-stack.checkLeafCertificates" (dict "path" (printf "peers[%d].certificates" $i) "certs" $peer.certificates) -}}
{{- end -}}
{{- end -}}
