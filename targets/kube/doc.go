// Package kube implements targets.Target for Kubernetes: "kind" creates (or
// reuses) a kind cluster, installs a pinned Istio with istioctl, builds the
// agent image and loads it; "cluster" uses an existing cluster from
// KUBECONFIG with Istio installed, in namespaces named and labelled for the
// run. Both then deploy a scenario's rendered objects, apply and revert its
// remediation (objects, pod annotations, meshConfig in the istio
// ConfigMap), wait until the client sidecar's Envoy configuration shows
// each state (never a sleep), run the probes inside pods, and save
// evidence.
//
// Set-up and tear-down are e2e-framework env funcs (Steps) composed in
// order, each with the plan lines that describe it, so `make e2e DRY_RUN=1`
// prints exactly what Setup would do. The pieces live in sub-packages, one
// job each: pins (hack/versions.env), kindcluster, istioinstall, resources
// (apply, prune, rollout), meshconfig, configdump, sidecarsync, podexec.
package kube
