package identity

import "net/netip"

// ClientAddress is the one key of a client's IP address for throttles and rate
// limits: the IPv4 address (IPv4-mapped IPv6 included), or the /64 prefix of an
// IPv6 address, the block one customer line gets, so cycling through one's own
// addresses buys nothing. ok is false when host is not an IP address; callers
// then key on host as they see fit.
func ClientAddress(host string) (key string, ok bool) {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", false
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String(), true
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return ip.String(), true
	}
	return p.String(), true
}
