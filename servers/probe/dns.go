package probe

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/firstbyte/firstbyte/servers/dnsserver"
)

// exchangeDNS asks the dnsserver zone two questions over one TCP
// connection with github.com/miekg/dns's client: the A record of
// dnsserver.AddressName, and the TXT record of a fresh label under
// dnsserver.EchoZone, whose answer must carry the label back (a real
// answer to this query, not a canned byte string).
func exchangeDNS(ctx context.Context, cfg Config, dial DialFunc) (string, error) {
	raw, err := dial(ctx, "tcp", cfg.Addr)
	if err != nil {
		return "", fmt.Errorf("dns: dial %s: %w", cfg.Addr, err)
	}
	conn := &dns.Conn{Conn: raw}
	defer conn.Close()
	client := &dns.Client{Net: "tcp", Timeout: cfg.Budget + cfg.Exchange}

	ask := func(name string, qtype uint16) (*dns.Msg, error) {
		r, _, err := client.ExchangeWithConnContext(ctx, new(dns.Msg).SetQuestion(name, qtype), conn)
		switch {
		case err != nil:
			return nil, fmt.Errorf("dns: %s %s: %w", dns.TypeToString[qtype], name, err)
		case r.Rcode != dns.RcodeSuccess:
			return nil, fmt.Errorf("dns: %s %s: rcode %s", dns.TypeToString[qtype], name, dns.RcodeToString[r.Rcode])
		case len(r.Answer) != 1:
			return nil, fmt.Errorf("dns: %s %s: %d answers, want 1", dns.TypeToString[qtype], name, len(r.Answer))
		}
		return r, nil
	}
	r, err := ask(dnsserver.AddressName, dns.TypeA)
	if err != nil {
		return "", err
	}
	if a, ok := r.Answer[0].(*dns.A); !ok || a.A.String() != dnsserver.Address.String() {
		return "", fmt.Errorf("dns: A %s answered %s, want %s", dnsserver.AddressName, r.Answer[0], dnsserver.Address)
	}
	label, err := randomHex(8)
	if err != nil {
		return "", err
	}
	echo := label + "." + dnsserver.EchoZone
	r, err = ask(echo, dns.TypeTXT)
	if err != nil {
		return "", err
	}
	if txt, ok := r.Answer[0].(*dns.TXT); !ok || strings.Join(txt.Txt, "") != label {
		return "", fmt.Errorf("dns: TXT %s answered %s, want %q", echo, r.Answer[0], label)
	}
	return fmt.Sprintf("A %s = %s and TXT echo %s answered over one TCP connection", dnsserver.AddressName, dnsserver.Address, label), nil
}
