package capture

import (
	"sort"
	"testing"

	"github.com/spf13/pflag"
	istiolog "istio.io/istio/pkg/log"
	"istio.io/istio/tools/common/config"
	"istio.io/istio/tools/istio-iptables/pkg/cmd"
)

// configFlags must route every flag of istio-iptables' command to the
// field it binds: a flag Istio adds or renames fails here first.
func TestIptablesFlagsMatchIstio(t *testing.T) {
	logOpts := istiolog.DefaultOptions()
	c := cmd.GetCommand(logOpts)
	logOpts.AttachCobraFlags(c)
	logFlags := map[string]bool{}
	c.PersistentFlags().VisitAll(func(f *pflag.Flag) { logFlags[f.Name] = true })
	ours := configFlags(config.DefaultConfig())
	var missing []string
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if logFlags[f.Name] {
			return
		}
		if _, ok := ours[f.Name]; !ok {
			missing = append(missing, f.Name)
		}
		delete(ours, f.Name)
	})
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("istio-iptables flags capture does not map: %v", missing)
	}
	if len(ours) > 0 {
		t.Errorf("capture maps flags istio-iptables no longer has: %v", ours)
	}
}
