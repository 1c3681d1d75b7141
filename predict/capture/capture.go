package capture

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firstbyte/firstbyte/envoy"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	istiolog "istio.io/istio/pkg/log"
	netutil "istio.io/istio/pkg/util/net"
	"istio.io/istio/tools/common/config"
	"istio.io/istio/tools/istio-iptables/pkg/capture"
	"istio.io/istio/tools/istio-iptables/pkg/cmd"
	"istio.io/istio/tools/istio-iptables/pkg/constants"
	dep "istio.io/istio/tools/istio-iptables/pkg/dependencies"
)

// CapturePod is the client pod as Istio's sidecar injector and
// istio-iptables see it.
type CapturePod struct {
	// Annotations are the pod's annotations, such as
	// traffic.sidecar.istio.io/excludeOutboundIPRanges.
	Annotations map[string]string
	// IP is the pod IP; istio-iptables reads it to choose IPv4 or IPv6.
	IP netip.Addr
	// ProxyUID and ProxyGID, when set, replace the injector's -u and -g:
	// the user whose traffic iptables lets through uncaptured (the local
	// target runs its proxy as its own user). Empty keeps the injector's.
	ProxyUID, ProxyGID string
	// Nameservers are the pod's /etc/resolv.conf nameservers, which
	// istio-iptables reads when DNS capture is on and redirects to the
	// agent's DNS proxy.
	Nameservers []netip.Addr `json:",omitempty"`
}

// iptablesConfig returns istio-iptables' configuration for the pod: the
// arguments Istio's injector gives istio-init, parsed by istio-iptables'
// own command line and completed as istio-iptables completes it inside the
// pod. It also returns those arguments.
func iptablesConfig(p CapturePod) (*config.Config, []string, error) {
	args, env, err := initCommand(p.Annotations)
	if err != nil {
		return nil, nil, err
	}
	if p.ProxyUID != "" {
		args = append(args, "--"+constants.ProxyUID, p.ProxyUID)
	}
	if p.ProxyGID != "" {
		args = append(args, "--"+constants.ProxyGID, p.ProxyGID)
	}
	cfg, err := parseIptablesArgs(args, env)
	if err != nil {
		return nil, nil, err
	}
	if err := completeFromPod(cfg, p.IP, p.Nameservers); err != nil {
		return nil, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("istio-iptables rejects %v: %w", args, err)
	}
	return cfg, args, nil
}

// parseIptablesArgs parses istio-init's arguments with istio-iptables' own
// cobra command, so flag names, shorthands, types and defaults are
// Istio's, then copies the values the arguments set into a Config.
// istio-iptables binds its flags to a Config it keeps to itself, hence the
// copy; configFlags says which flag fills which field, and a flag it does
// not know is an error, so a new injector argument cannot be dropped
// silently.
//
// env is istio-init's environment: istio-iptables' command reads options
// from the process environment while it builds its flags (for example
// ISTIO_META_DNS_CAPTURE for --redirect-dns), so the environment is set
// to istio-init's, under a lock, while it does.
func parseIptablesArgs(args []string, env map[string]string) (*config.Config, error) {
	logOpts := istiolog.DefaultOptions()
	c := commandWithEnv(env, func() *cobra.Command { return cmd.GetCommand(logOpts) })
	logOpts.AttachCobraFlags(c)
	logFlags := map[string]bool{}
	c.PersistentFlags().VisitAll(func(f *pflag.Flag) { logFlags[f.Name] = true })
	if err := c.ParseFlags(args); err != nil {
		return nil, fmt.Errorf("istio-iptables cannot parse the injector's arguments %v: %w", args, err)
	}
	cfg := config.DefaultConfig()
	fields := configFlags(cfg)
	var err error
	c.Flags().Visit(func(f *pflag.Flag) {
		if err != nil || logFlags[f.Name] {
			return
		}
		field, ok := fields[f.Name]
		if !ok {
			err = fmt.Errorf("istio-init argument --%s (%s) is not mapped to istio-iptables' Config: add it to configFlags in predict/capture/capture.go", f.Name, f.Value)
			return
		}
		err = setField(field, f.Value.String())
		if err != nil {
			err = fmt.Errorf("istio-init argument --%s=%s: %w", f.Name, f.Value, err)
		}
	})
	return cfg, err
}

// configFlags mirrors istio-iptables' bindCmdlineFlags: flag name → the
// Config field it fills.
func configFlags(cfg *config.Config) map[string]any {
	return map[string]any{
		constants.EnvoyPort:                 &cfg.ProxyPort,
		constants.InboundCapturePort:        &cfg.InboundCapturePort,
		constants.InboundTunnelPort:         &cfg.InboundTunnelPort,
		constants.ProxyUID:                  &cfg.ProxyUID,
		constants.ProxyGID:                  &cfg.ProxyGID,
		constants.InboundInterceptionMode:   &cfg.InboundInterceptionMode,
		constants.InboundPorts:              &cfg.InboundPortsInclude,
		constants.LocalExcludePorts:         &cfg.InboundPortsExclude,
		constants.ExcludeInterfaces:         &cfg.ExcludeInterfaces,
		constants.ServiceCidr:               &cfg.OutboundIPRangesInclude,
		constants.ServiceExcludeCidr:        &cfg.OutboundIPRangesExclude,
		constants.OutboundPorts:             &cfg.OutboundPortsInclude,
		constants.LocalOutboundPortsExclude: &cfg.OutboundPortsExclude,
		constants.RerouteVirtualInterfaces:  &cfg.RerouteVirtualInterfaces,
		constants.InboundTProxyMark:         &cfg.InboundTProxyMark,
		constants.InboundTProxyRouteTable:   &cfg.InboundTProxyRouteTable,
		constants.DryRun:                    &cfg.DryRun,
		constants.IptablesProbePort:         &cfg.IptablesProbePort,
		constants.ProbeTimeout:              &cfg.ProbeTimeout,
		constants.SkipRuleApply:             &cfg.SkipRuleApply,
		constants.RunValidation:             &cfg.RunValidation,
		constants.RedirectDNS:               &cfg.RedirectDNS,
		constants.DropInvalid:               &cfg.DropInvalid,
		constants.DualStack:                 &cfg.DualStack,
		constants.CaptureAllDNS:             &cfg.CaptureAllDNS,
		constants.NetworkNamespace:          &cfg.NetworkNamespace,
		constants.CNIMode:                   &cfg.HostFilesystemPodNetwork,
		constants.Reconcile:                 &cfg.Reconcile,
		constants.CleanupOnly:               &cfg.CleanupOnly,
		constants.ForceApply:                &cfg.ForceApply,
		constants.NativeNftables:            &cfg.NativeNftables,
		constants.ForceIptablesBinary:       &cfg.ForceIptablesBinary,
	}
}

func setField(field any, v string) error {
	var err error
	switch p := field.(type) {
	case *string:
		*p = v
	case *bool:
		*p, err = strconv.ParseBool(v)
	case *uint16:
		var n uint64
		n, err = strconv.ParseUint(v, 10, 16)
		*p = uint16(n)
	case *time.Duration:
		*p, err = time.ParseDuration(v)
	default:
		err = fmt.Errorf("field type %T is not handled", field)
	}
	return err
}

// localAddrs guards config.LocalIPAddrs, which completeFromPod swaps.
var localAddrs sync.Mutex

// processEnv guards the environment commandWithEnv swaps.
var processEnv sync.Mutex

// commandWithEnv builds istio-iptables' command with env set in the
// process environment (variables already set are saved and restored),
// so the command's flags pick up istio-init's environment as they do in
// the pod.
func commandWithEnv(env map[string]string, build func() *cobra.Command) *cobra.Command {
	processEnv.Lock()
	defer processEnv.Unlock()
	for k, v := range env {
		old, had := os.LookupEnv(k)
		os.Setenv(k, v)
		if had {
			defer os.Setenv(k, old)
		} else {
			defer os.Unsetenv(k)
		}
	}
	return build()
}

// completeFromPod runs istio-iptables' FillConfigFromEnvironment as it runs
// inside the pod: Istio reads the pod's interface addresses to choose
// IPv4 or IPv6, so they are swapped for the pod IP while it runs (Istio
// exposes config.LocalIPAddrs for exactly this).
//
// With DNS capture on, istio-iptables also reads the pod's /etc/resolv.conf
// for the nameservers it redirects; they come from nameservers instead
// (the pod's resolv.conf, not this machine's), split by Istio's own
// helper.
func completeFromPod(cfg *config.Config, podIP netip.Addr, nameservers []netip.Addr) error {
	if !podIP.IsValid() {
		return fmt.Errorf("capturing: the pod IP is not set: istio-iptables needs it to choose IPv4 or IPv6")
	}
	readsResolvConf := cfg.RedirectDNS && !cfg.CaptureAllDNS
	if readsResolvConf {
		if len(nameservers) == 0 {
			return fmt.Errorf("capturing for pod %s: DNS capture is on and istio-iptables redirects the pod's resolv.conf nameservers, but none are known: set Topology.DNSServerIP", podIP)
		}
		cfg.RedirectDNS = false
		defer func() {
			cfg.RedirectDNS = true
			var ns []string
			for _, a := range nameservers {
				ns = append(ns, a.String())
			}
			cfg.DNSServersV4, cfg.DNSServersV6 = netutil.IPsSplitV4V6(ns)
		}()
	}
	localAddrs.Lock()
	defer localAddrs.Unlock()
	saved := config.LocalIPAddrs
	defer func() { config.LocalIPAddrs = saved }()
	config.LocalIPAddrs = func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: podIP.AsSlice(), Mask: net.CIDRMask(podIP.BitLen(), podIP.BitLen())}}, nil
	}
	if err := cfg.FillConfigFromEnvironment(); err != nil {
		return fmt.Errorf("completing istio-iptables' config for pod IP %s: %w", podIP, err)
	}
	return nil
}

// RestoreRules returns the iptables-restore input istio-iptables applies
// in the pod, from a dry run of its rule builder (no iptables is touched).
// The local target applies the same text with iptables-restore --noflush
// inside a network namespace.
func RestoreRules(p CapturePod) (string, error) {
	_, rules, err := iptablesRules(p)
	return rules, err
}

// iptablesRules returns istio-init's arguments and the rules they make,
// memoised: every scenario asks, and there are few distinct pods.
func iptablesRules(p CapturePod) (args []string, rules string, err error) {
	key, _ := json.Marshal(p)
	restoreCache.Lock()
	e, ok := restoreCache.m[string(key)]
	if !ok {
		e = &restoreEntry{}
		restoreCache.m[string(key)] = e
	}
	restoreCache.Unlock()
	e.once.Do(func() { e.args, e.rules, e.err = restoreRules(p) })
	return e.args, e.rules, e.err
}

type restoreEntry struct {
	once  sync.Once
	args  []string
	rules string
	err   error
}

var restoreCache = struct {
	sync.Mutex
	m map[string]*restoreEntry
}{m: map[string]*restoreEntry{}}

func restoreRules(p CapturePod) ([]string, string, error) {
	cfg, args, err := iptablesConfig(p)
	if err != nil {
		return nil, "", err
	}
	if cfg.NativeNftables {
		return nil, "", fmt.Errorf("istio-init runs with --native-nftables (%v): predict evaluates iptables rules only", args)
	}
	stub := &dep.DependenciesStub{}
	ipt, err := capture.NewIptablesConfigurator(cfg, stub)
	if err != nil {
		return nil, "", fmt.Errorf("istio-iptables with %v: %w", args, err)
	}
	if err := ipt.Run(); err != nil {
		return nil, "", fmt.Errorf("istio-iptables dry run with %v: %w", args, err)
	}
	if len(stub.ExecutedStdin) == 0 {
		return nil, "", fmt.Errorf("istio-iptables dry run with %v produced no iptables-restore input", args)
	}
	return args, strings.Join(stub.ExecutedStdin, "\n") + "\n", nil
}

// Capture is what iptables does with an outbound connection from the app.
type Capture struct {
	// Redirected is true when the nat table sends the connection to the
	// sidecar; ToPort is the REDIRECT port (15001, virtualOutbound).
	Redirected bool
	ToPort     int
	// Trace lists the rules that decided, in order.
	Trace []envoy.Step
}

// CaptureOutbound decides whether the pod's iptables rules redirect a TCP
// connection from the app (running as uid/gid appUID) to dst.
func CaptureOutbound(p CapturePod, dst netip.AddrPort, appUID uint32) (Capture, error) {
	args, rules, err := PodRules(p)
	if err != nil {
		return Capture{}, err
	}
	pkt := Packet{Src: p.IP, Dst: dst, Protocol: "tcp", UID: appUID, GID: appUID, OutInterface: "eth0"}
	if dst.Addr().IsLoopback() || dst.Addr() == p.IP {
		pkt.OutInterface = "lo"
	}
	v, err := rules.Output(pkt)
	if err != nil {
		return Capture{}, err
	}
	c := Capture{Redirected: v.Redirect, ToPort: v.ToPort}
	annotations := "no traffic annotations"
	if len(p.Annotations) > 0 {
		var kv []string
		for k, v := range p.Annotations {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		annotations = "annotations " + strings.Join(kv, ", ")
	}
	c.Trace = append(c.Trace,
		envoy.Step{Stage: "capture", Decision: fmt.Sprintf("pod %s with %s: Istio's sidecar injector gives istio-init: istio-iptables %s", p.IP, annotations, shellWords(args))},
		envoy.Step{Stage: "capture", Decision: "istio-iptables' rule builder (dry run) makes the nat rules; the connection's first packet walks nat OUTPUT:"})
	for _, hit := range v.Path {
		c.Trace = append(c.Trace, envoy.Step{Stage: "capture", Decision: hit})
	}
	if v.Redirect {
		c.Trace = append(c.Trace, envoy.Step{Stage: "capture", Decision: fmt.Sprintf("TCP %s from uid %d → REDIRECT to sidecar port %d", dst, appUID, v.ToPort)})
	} else {
		c.Trace = append(c.Trace, envoy.Step{Stage: "capture", Decision: fmt.Sprintf("TCP %s from uid %d is not captured: it leaves the pod directly, no sidecar involved", dst, appUID)})
	}
	return c, nil
}

// shellWords joins arguments as a shell would need them typed, so a trace
// line can be pasted: empty and glob-like arguments are single-quoted.
func shellWords(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t*?[]'\"$;&|<>()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// CaptureInbound decides whether a pod's iptables rules redirect a TCP
// connection arriving from src for dst (the pod's own IP and port) to
// its sidecar's inbound port (15006, virtualInbound). The pod's
// annotations (traffic.sidecar.istio.io/excludeInboundPorts, say) shape
// the rules as Istio's injector renders them.
func CaptureInbound(p CapturePod, src netip.Addr, dst netip.AddrPort) (Capture, error) {
	args, rules, err := PodRules(p)
	if err != nil {
		return Capture{}, err
	}
	v, err := rules.prerouting(Packet{Src: src, Dst: dst, Protocol: "tcp", InInterface: "eth0"})
	if err != nil {
		return Capture{}, err
	}
	c := Capture{Redirected: v.Redirect, ToPort: v.ToPort}
	c.Trace = append(c.Trace, envoy.Step{Stage: "inbound capture", Decision: fmt.Sprintf("pod %s: Istio's sidecar injector gives istio-init: istio-iptables %s; the connection's first packet walks nat PREROUTING:", p.IP, shellWords(args))})
	for _, hit := range v.Path {
		c.Trace = append(c.Trace, envoy.Step{Stage: "inbound capture", Decision: hit})
	}
	if v.Redirect {
		c.Trace = append(c.Trace, envoy.Step{Stage: "inbound capture", Decision: fmt.Sprintf("TCP %s → %s → REDIRECT to the sidecar's inbound port %d", src, dst, v.ToPort)})
	} else {
		c.Trace = append(c.Trace, envoy.Step{Stage: "inbound capture", Decision: fmt.Sprintf("TCP %s → %s is not captured: it reaches the server application directly", src, dst)})
	}
	return c, nil
}

// PodRules is the pod's istio-iptables arguments and the rules they make,
// parsed for walking.
func PodRules(p CapturePod) ([]string, *Rules, error) {
	args, text, err := iptablesRules(p)
	if err != nil {
		return nil, nil, err
	}
	rules, err := ParseRestore(text)
	if err != nil {
		return nil, nil, fmt.Errorf("reading istio-iptables' rules: %w", err)
	}
	return args, rules, nil
}
