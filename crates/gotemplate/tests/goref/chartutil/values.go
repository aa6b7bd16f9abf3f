// Package chartutil stands in for Helm's k8s.io/helm/pkg/chartutil: its Values type, so
// that a chart's root context prints as "chartutil.Values" (sprig's typeOf), which werf's
// chart helpers test to tell the root-context call from the tuple call.
package chartutil

// Values is Helm's map type of a chart's root context and of .Values.
type Values map[string]interface{}
