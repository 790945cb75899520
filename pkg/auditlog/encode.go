package auditlog

import (
	"slices"
	"strconv"
	"unicode/utf8"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
)

// appendEvent appends ev as one line of audit.k8s.io/v1 JSON, byte for byte what
// k8s.io/apiserver's log backend writes for it (conversion to v1, then encoding/json with
// its HTML escaping, then a newline). ok is false for what it does not write itself: request
// and response bodies, status details, authentication metadata, shard info. The caller
// then uses the upstream encoder, which knows every field.
func appendEvent(dst []byte, ev *auditinternal.Event) (_ []byte, ok bool) {
	if ev.RequestObject != nil || ev.ResponseObject != nil || ev.AuthenticationMetadata != nil {
		return dst, false
	}
	if s := ev.ResponseStatus; s != nil && (s.Details != nil || s.ShardInfo != nil) {
		return dst, false
	}
	dst = append(dst, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":`...)
	dst = appendString(dst, string(ev.Level))
	dst = append(dst, `,"auditID":`...)
	dst = appendString(dst, string(ev.AuditID))
	dst = append(dst, `,"stage":`...)
	dst = appendString(dst, string(ev.Stage))
	dst = append(dst, `,"requestURI":`...)
	dst = appendString(dst, ev.RequestURI)
	dst = append(dst, `,"verb":`...)
	dst = appendString(dst, ev.Verb)
	dst = append(dst, `,"user":`...)
	dst = appendUser(dst, &ev.User)
	if ev.ImpersonatedUser != nil {
		dst = append(dst, `,"impersonatedUser":`...)
		dst = appendUser(dst, ev.ImpersonatedUser)
	}
	if len(ev.SourceIPs) > 0 {
		dst = append(dst, `,"sourceIPs":`...)
		dst = appendStrings(dst, ev.SourceIPs)
	}
	if ev.UserAgent != "" {
		dst = append(dst, `,"userAgent":`...)
		dst = appendString(dst, ev.UserAgent)
	}
	if r := ev.ObjectRef; r != nil {
		dst = append(dst, `,"objectRef":{`...)
		n := len(dst)
		dst = appendField(dst, n, "resource", r.Resource)
		dst = appendField(dst, n, "namespace", r.Namespace)
		dst = appendField(dst, n, "name", r.Name)
		dst = appendField(dst, n, "uid", string(r.UID))
		dst = appendField(dst, n, "apiGroup", r.APIGroup)
		dst = appendField(dst, n, "apiVersion", r.APIVersion)
		dst = appendField(dst, n, "resourceVersion", r.ResourceVersion)
		dst = appendField(dst, n, "subresource", r.Subresource)
		dst = append(dst, '}')
	}
	if s := ev.ResponseStatus; s != nil {
		dst = append(dst, `,"responseStatus":`...)
		dst = appendStatus(dst, s)
	}
	dst = append(dst, `,"requestReceivedTimestamp":`...)
	dst = appendMicroTime(dst, ev.RequestReceivedTimestamp)
	dst = append(dst, `,"stageTimestamp":`...)
	dst = appendMicroTime(dst, ev.StageTimestamp)
	if len(ev.Annotations) > 0 {
		dst = append(dst, `,"annotations":`...)
		dst = appendMap(dst, ev.Annotations, appendString)
	}
	return append(dst, "}\n"...), true
}

// appendField appends "name":value when value is not empty (omitempty), with a comma
// unless it is the first field since start.
func appendField(dst []byte, start int, name, value string) []byte {
	if value == "" {
		return dst
	}
	if len(dst) > start {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, `":`...)
	return appendString(dst, value)
}

func appendUser(dst []byte, u *authnv1.UserInfo) []byte {
	dst = append(dst, '{')
	n := len(dst)
	dst = appendField(dst, n, "username", u.Username)
	dst = appendField(dst, n, "uid", u.UID)
	if len(u.Groups) > 0 {
		if len(dst) > n {
			dst = append(dst, ',')
		}
		dst = append(dst, `"groups":`...)
		dst = appendStrings(dst, u.Groups)
	}
	if len(u.Extra) > 0 {
		if len(dst) > n {
			dst = append(dst, ',')
		}
		dst = append(dst, `"extra":`...)
		dst = appendMap(dst, u.Extra, func(dst []byte, v authnv1.ExtraValue) []byte { return appendStrings(dst, v) })
	}
	return append(dst, '}')
}

// appendStatus writes a Status without details: its ListMeta is a struct, which
// encoding/json never omits, so "metadata":{} is always there.
func appendStatus(dst []byte, s *metav1.Status) []byte {
	dst = append(dst, '{')
	n := len(dst)
	dst = appendField(dst, n, "kind", s.Kind)
	dst = appendField(dst, n, "apiVersion", s.APIVersion)
	if len(dst) > n {
		dst = append(dst, ',')
	}
	dst = append(dst, `"metadata":{`...)
	m := len(dst)
	dst = appendField(dst, m, "selfLink", s.SelfLink)
	dst = appendField(dst, m, "resourceVersion", s.ResourceVersion)
	dst = appendField(dst, m, "continue", s.Continue)
	if s.RemainingItemCount != nil {
		if len(dst) > m {
			dst = append(dst, ',')
		}
		dst = append(dst, `"remainingItemCount":`...)
		dst = strconv.AppendInt(dst, *s.RemainingItemCount, 10)
	}
	dst = append(dst, '}')
	dst = appendField(dst, n, "status", s.Status)
	dst = appendField(dst, n, "message", s.Message)
	dst = appendField(dst, n, "reason", string(s.Reason))
	if s.Code != 0 {
		dst = append(dst, `,"code":`...)
		dst = strconv.AppendInt(dst, int64(s.Code), 10)
	}
	return append(dst, '}')
}

// appendMicroTime writes what metav1.MicroTime.MarshalJSON does.
func appendMicroTime(dst []byte, t metav1.MicroTime) []byte {
	if t.IsZero() {
		return append(dst, "null"...)
	}
	var buf [64]byte
	return appendString(dst, string(t.UTC().AppendFormat(buf[:0], metav1.RFC3339Micro)))
}

// appendStrings writes a slice as encoding/json does: null when nil.
func appendStrings(dst []byte, v []string) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, s := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, s)
	}
	return append(dst, ']')
}

// appendMap writes a map as encoding/json does: keys in the order of their bytes.
func appendMap[V any](dst []byte, m map[string]V, value func([]byte, V) []byte) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = value(dst, m[k])
	}
	return append(dst, '}')
}

const hex = "0123456789abcdef"

// appendString quotes s as encoding/json does with HTML escaping on (json.Encoder's
// default, which the upstream serializer uses): \" \\ \b \f \n \r \t, other control
// characters and < > & as \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
