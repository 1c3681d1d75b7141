//go:build !istio_1_31_dev_master

package generator

import "istio.io/istio/pilot/pkg/networking/util"

// HasDynamicDNS: this Istio's pilot builds ALLOW_ANY_DYNAMIC_DNS
// config. The reference to its helper is the proof: a line that lacks it
// does not compile this file and builds features_istio_1_31_dev_master.go
// instead (build tag istio_1_31_dev_master, set by hack/predict-lines.sh).
var _ = util.IsAllowAnyDynamicDNSOutbound

const HasDynamicDNS = true
