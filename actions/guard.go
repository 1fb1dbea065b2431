package actions

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// ErrRefused is wrapped by the error of a connection the SSRF guard refused:
// "refused: 127.0.0.1 is a loopback address".
var ErrRefused = errors.New("refused")

var (
	cgnat    = mustCIDR("100.64.0.0/10")
	thisNet  = mustCIDR("0.0.0.0/8")
	nat64    = mustCIDR("64:ff9b::/96")
	metaV4   = net.ParseIP("169.254.169.254")
	metaV6   = net.ParseIP("fd00:ec2::254")
	bcast    = net.IPv4bcast
	reserved = mustCIDR("240.0.0.0/4")
)

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

// classify names the kind of a refused address, or returns "" for a public one.
func classify(ip net.IP) string {
	if ip == nil {
		return "unparsable"
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	} else if nat64.Contains(ip) {
		// NAT64 embeds an IPv4 address: judge that one.
		if k := classify(net.IP(ip[12:16])); k != "" {
			return k
		}
	}
	switch {
	case ip.Equal(metaV4) || ip.Equal(metaV6):
		return "cloud metadata"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsUnspecified(), thisNet.Contains(ip):
		return "unspecified"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case cgnat.Contains(ip):
		return "carrier-grade NAT"
	case ip.IsMulticast(), ip.Equal(bcast):
		return "multicast or broadcast"
	case reserved.Contains(ip):
		return "reserved"
	}
	return ""
}

// Refused reports whether the SSRF guard refuses to connect to ip: loopback,
// private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10), CGNAT
// (100.64/10), unspecified, multicast, broadcast, reserved and cloud metadata
// addresses, IPv4-mapped and NAT64 forms included. A nil ip is refused.
func Refused(ip net.IP) bool { return classify(ip) != "" }

func refusal(ip net.IP, kind string) error {
	return fmt.Errorf("%w: %s is a %s address (set ASSETHOOKS_ALLOW_PRIVATE_TARGETS=true to allow it)", ErrRefused, ip, kind)
}

// guard is the dialer's Control: it sees the resolved address, so DNS cannot
// trick it.
func guard(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: bad address %q", ErrRefused, address)
	}
	ip := net.ParseIP(host)
	if k := classify(ip); k != "" {
		return refusal(ip, k)
	}
	return nil
}

// NewTransport returns the transport webhooks are sent with: keep-alives,
// HTTP/2, idle pools sized for many hosts, no proxy (a proxy would hide the
// target from the guard), and unless allowPrivate a dialer that refuses every
// address Refused reports, checked at dial time on the resolved IP.
func NewTransport(allowPrivate bool) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = guard
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		DisableCompression:     true, // answers are small and kept as text; no gzip round trip
		MaxIdleConns:           4096,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

var (
	guardedTransport = sync.OnceValue(func() *http.Transport { return NewTransport(false) })
	openTransport    = sync.OnceValue(func() *http.Transport { return NewTransport(true) })
)

func sharedTransport(allowPrivate bool) *http.Transport {
	if allowPrivate {
		return openTransport()
	}
	return guardedTransport()
}
