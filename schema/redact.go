package schema

import "strings"

// redactURL hides the credentials in the userinfo of a URL (with or without
// a scheme) so that an error quoting it does not leak them: the password of
// user:password, or the whole userinfo when it is a single token. A string
// without userinfo is returned unchanged.
func redactURL(u string) string {
	const mask = "xxxxx"
	head, rest := "", u
	if i := strings.Index(u, "://"); i >= 0 {
		head, rest = u[:i+3], u[i+3:]
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return u
	}
	if user, _, ok := strings.Cut(rest[:at], ":"); ok {
		return head + user + ":" + mask + rest[at:]
	}
	return head + mask + rest[at:]
}
