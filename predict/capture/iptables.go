package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Rules is an iptables-restore text read back into tables and chains, so
// the nat table can be walked for one packet the way the kernel walks it.
// Only what decides redirection is modelled: the matchers istio-iptables
// emits in the nat table. A matcher outside that set is an error naming
// it, never a silent guess.
type Rules struct {
	// tables maps table → chain → rules in order.
	tables map[string]map[string][]Rule
}

// Rule is one -A/-I line.
type Rule struct {
	Chain string
	// Text is the rule as written, for traces.
	Text    string
	matches []match
	target  string
	// toPorts is REDIRECT's --to-ports.
	toPorts string
}

type match struct {
	negate bool
	option string
	value  string
}

// Packet is the first packet of a connection as the nat OUTPUT chain
// (outbound) or PREROUTING chain (inbound) sees it.
type Packet struct {
	Src      netip.Addr
	Dst      netip.AddrPort
	Protocol string // tcp or udp
	UID, GID uint32
	// OutInterface is the routed interface of an outbound packet: lo for
	// local addresses.
	OutInterface string
	// InInterface is the interface an inbound packet arrives on.
	InInterface string
}

// Verdict is where the nat table sends the packet.
type Verdict struct {
	Redirect bool
	ToPort   int
	// Path lists the deciding steps in words: jumps, the rule that decided.
	Path []string
}

// ParseRestore reads iptables-restore input.
func ParseRestore(text string) (*Rules, error) {
	r := &Rules{tables: map[string]map[string][]Rule{}}
	table := ""
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || line == "COMMIT":
			continue
		case strings.HasPrefix(line, "*"):
			table = strings.TrimSpace(line[1:])
			if r.tables[table] == nil {
				r.tables[table] = map[string][]Rule{}
			}
			continue
		case table == "":
			return nil, fmt.Errorf("line %d %q: rule outside a table (want a '* <table>' line first)", n+1, line)
		case strings.HasPrefix(line, ":"): // chain declaration with policy
			r.tables[table][strings.Fields(line[1:])[0]] = nil
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("line %d %q: want -N, -A or -I with a chain", n+1, line)
		}
		chain := f[1]
		switch f[0] {
		case "-N":
			if _, ok := r.tables[table][chain]; !ok {
				r.tables[table][chain] = nil
			}
		case "-A", "-I":
			args := f[2:]
			pos := -1
			if f[0] == "-I" {
				pos = 1
				if len(args) > 0 {
					if p, err := strconv.Atoi(args[0]); err == nil {
						pos, args = p, args[1:]
					}
				}
			}
			rule, err := parseRule(chain, line, args)
			if err != nil {
				return nil, fmt.Errorf("line %d %q: %w", n+1, line, err)
			}
			rules := r.tables[table][chain]
			if pos < 0 || pos > len(rules) {
				rules = append(rules, rule)
			} else {
				rules = slices.Insert(rules, pos-1, rule)
			}
			r.tables[table][chain] = rules
		default:
			return nil, fmt.Errorf("line %d %q: unknown command %s (want -N, -A or -I)", n+1, line, f[0])
		}
	}
	return r, nil
}

func parseRule(chain, text string, args []string) (Rule, error) {
	r := Rule{Chain: chain, Text: text}
	negate := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", a)
			}
			i++
			return args[i], nil
		}
		switch a {
		case "!":
			negate = true
			continue
		case "-m": // the match modules' options follow; the options carry the meaning
			if _, err := next(); err != nil {
				return r, err
			}
		case "-j":
			v, err := next()
			if err != nil {
				return r, err
			}
			r.target = v
		case "--to-ports", "--to-port":
			v, err := next()
			if err != nil {
				return r, err
			}
			r.toPorts = v
		case "-p", "--protocol", "-s", "--source", "-d", "--destination", "-o", "--out-interface",
			"-i", "--in-interface", "--dport", "--dports", "--uid-owner", "--gid-owner",
			"--sport", "--mark", "--ctstate", "--zone", "--set-mark", "--comment":
			v, err := next()
			if err != nil {
				return r, err
			}
			r.matches = append(r.matches, match{negate: negate, option: canonicalOption(a), value: v})
		default:
			r.matches = append(r.matches, match{negate: negate, option: a})
		}
		negate = false
	}
	if r.target == "" {
		return r, fmt.Errorf("no -j target")
	}
	return r, nil
}

func canonicalOption(o string) string {
	switch o {
	case "--protocol":
		return "-p"
	case "--source":
		return "-s"
	case "--destination":
		return "-d"
	case "--out-interface":
		return "-o"
	case "--in-interface":
		return "-i"
	}
	return o
}

// builtinChains are the nat chains the kernel enters, with their policy
// when no rule decides (istio-iptables never changes the policies).
var builtinChains = map[string]bool{"PREROUTING": true, "INPUT": true, "OUTPUT": true, "POSTROUTING": true}

// Output walks the nat table's OUTPUT chain for the packet, as the kernel
// does for a locally generated connection's first packet.
func (r *Rules) Output(p Packet) (Verdict, error) { return r.builtin("OUTPUT", p) }

// prerouting walks the nat table's PREROUTING chain for the packet, as
// the kernel does for an arriving connection's first packet.
func (r *Rules) prerouting(p Packet) (Verdict, error) { return r.builtin("PREROUTING", p) }

func (r *Rules) builtin(chain string, p Packet) (Verdict, error) {
	var v Verdict
	if _, ok := r.tables["nat"]; !ok {
		v.Path = append(v.Path, "no nat table: nothing redirects")
		return v, nil
	}
	done, err := r.walk(chain, p, &v, 0)
	if err != nil {
		return v, err
	}
	if !done {
		v.Path = append(v.Path, fmt.Sprintf("nat %s ends without a decision: policy ACCEPT, not redirected", chain))
	}
	return v, nil
}

// walk runs a chain; done reports whether a rule decided the packet's
// fate (a terminating target), as opposed to the chain running out or
// returning.
func (r *Rules) walk(chain string, p Packet, v *Verdict, depth int) (done bool, err error) {
	if depth > 16 {
		return false, fmt.Errorf("nat chain %s: jumps nest deeper than 16: a loop?", chain)
	}
	rules, ok := r.tables["nat"][chain]
	if !ok && !builtinChains[chain] {
		return false, fmt.Errorf("nat chain %s is jumped to but not defined", chain)
	}
	for _, rule := range rules {
		hit, err := rule.matchesPacket(p)
		if err != nil {
			return false, err
		}
		if !hit {
			continue
		}
		switch rule.target {
		case "RETURN":
			if builtinChains[chain] {
				v.Path = append(v.Path, fmt.Sprintf("rule %q: RETURN from built-in chain %s, policy ACCEPT: not redirected", rule.Text, chain))
				return true, nil
			}
			v.Path = append(v.Path, fmt.Sprintf("rule %q: RETURN, leaves %s", rule.Text, chain))
			return false, nil
		case "ACCEPT":
			v.Path = append(v.Path, fmt.Sprintf("rule %q: ACCEPT, not redirected", rule.Text))
			return true, nil
		case "REDIRECT":
			port, err := strconv.Atoi(strings.Split(rule.toPorts, "-")[0])
			if err != nil {
				return false, fmt.Errorf("rule %q: REDIRECT --to-ports %q is not a port", rule.Text, rule.toPorts)
			}
			v.Redirect, v.ToPort = true, port
			v.Path = append(v.Path, fmt.Sprintf("rule %q: REDIRECT", rule.Text))
			return true, nil
		default:
			if _, isChain := r.tables["nat"][rule.target]; !isChain {
				return false, fmt.Errorf("rule %q: target %s is neither a nat chain nor RETURN/ACCEPT/REDIRECT: predict/capture/iptables.go cannot follow it", rule.Text, rule.target)
			}
			v.Path = append(v.Path, fmt.Sprintf("rule %q: jump to %s", rule.Text, rule.target))
			done, err := r.walk(rule.target, p, v, depth+1)
			if done || err != nil {
				return done, err
			}
		}
	}
	if !builtinChains[chain] {
		v.Path = append(v.Path, fmt.Sprintf("end of %s: back to the caller", chain))
	}
	return false, nil
}

func (rule Rule) matchesPacket(p Packet) (bool, error) {
	for _, m := range rule.matches {
		ok, err := m.matches(p)
		if err != nil {
			return false, fmt.Errorf("rule %q: %w", rule.Text, err)
		}
		if ok == m.negate {
			return false, nil
		}
	}
	return true, nil
}

func (m match) matches(p Packet) (bool, error) {
	switch m.option {
	case "-p":
		return m.value == "all" || m.value == p.Protocol, nil
	case "-s":
		return prefixContains(m.value, p.Src)
	case "-d":
		return prefixContains(m.value, p.Dst.Addr())
	case "-o":
		return m.value == p.OutInterface, nil
	case "-i":
		return m.value == p.InInterface, nil
	case "--dport", "--dports":
		return portIn(m.value, p.Dst.Port())
	case "--uid-owner":
		return idIs(m.value, p.UID)
	case "--gid-owner":
		return idIs(m.value, p.GID)
	}
	return false, fmt.Errorf("matcher %s is not modelled for the nat table walk: extend predict/capture/iptables.go", m.option)
}

func prefixContains(v string, a netip.Addr) (bool, error) {
	if !strings.Contains(v, "/") {
		if a.Is4() {
			v += "/32"
		} else {
			v += "/128"
		}
	}
	pfx, err := netip.ParsePrefix(v)
	if err != nil {
		return false, fmt.Errorf("address %q: %w", v, err)
	}
	return pfx.Contains(a), nil
}

// portIn matches a port against "80", "80:90" or "53,15008".
func portIn(v string, port uint16) (bool, error) {
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		from, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return false, fmt.Errorf("port %q: %w", part, err)
		}
		to := from
		if isRange {
			if to, err = strconv.ParseUint(hi, 10, 16); err != nil {
				return false, fmt.Errorf("port %q: %w", part, err)
			}
		}
		if uint64(port) >= from && uint64(port) <= to {
			return true, nil
		}
	}
	return false, nil
}

func idIs(v string, id uint32) (bool, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return false, fmt.Errorf("owner %q is not numeric: predict models numeric uids/gids only", v)
	}
	return uint32(n) == id, nil
}
