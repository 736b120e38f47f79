package record

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/cohortdb/cohort/engine/schema"
)

// The fast path. encoding/json costs 15–20 µs on a typical generated record
// (~850 bytes, many events), most of it in reflection, map building and
// allocation; bulk load needs several times less. The scanner here reads
// the one shape DESIGN §3 allows straight into a parsed, which the shared
// validate then checks, so the two decoders differ only in reading JSON.
//
// The fast path need only be right when it succeeds. It gives up — and
// Decode falls back to decodeReference, which also words the error — on
// anything wrong, and on whatever it does not care to reproduce
// encoding/json's treatment of: keys that are not exactly the lower-case
// names (encoding/json matches struct keys case-insensitively), escapes in
// keys, duplicate keys (encoding/json lets the last one win, or merges
// objects; "ids" refuses them), null other than as the value of a member
// of "ids", "set", "add" or "remove", values of the wrong JSON type, and
// anything but whitespace after the object (encoding/json accepts some of
// that). fast_test.go holds it to the reference.

// decodeFast decodes line as Decode does, or reports false when the line
// needs the reference decoder.
func decodeFast(line []byte, s *schema.Schema, a *Arena) (Update, bool) {
	if len(line) > MaxLineBytes || !utf8.Valid(line) {
		return Update{}, false
	}
	// Backing arrays for a typical record (generated ones average six
	// events), so that the scan allocates nothing but decoded escapes;
	// larger records spill to the heap.
	var (
		idsBuf    [4]member
		setBuf    [16]member
		addBuf    [4]member
		removeBuf [4]member
		unsetBuf  [4]string
		eventBuf  [32]parsedEvent
	)
	var spill *[]parsedEvent
	if a != nil {
		spill = &a.parsed
	}
	p, ok := scanRecord(line, spill, parsed{
		ids:    idsBuf[:0],
		set:    setBuf[:0],
		add:    addBuf[:0],
		remove: removeBuf[:0],
		unset:  unsetBuf[:0],
		events: eventBuf[:0],
	})
	if !ok {
		return Update{}, false
	}
	u, err := p.validate(s, a)
	if err != nil {
		return Update{}, false
	}
	return u, true
}

// Bits of the top-level keys seen, to refuse duplicates.
const (
	seenID = 1 << iota
	seenIDs
	seenSet
	seenAdd
	seenRemove
	seenUnset
	seenEvents
)

// scanRecord reads the record object of line into p, whose slices it
// appends to. p goes in and out by value: stored through a pointer, the
// slices would make escape analysis move decodeFast's buffers to the heap.
func scanRecord(line []byte, spill *[]parsedEvent, p parsed) (parsed, bool) {
	sc := scanner{b: line, spill: spill}
	if !sc.eat('{') {
		return p, false
	}
	if !sc.eat('}') {
		var seen uint
		for {
			key, ok := sc.key()
			if !ok || !sc.eat(':') {
				return p, false
			}
			var bit uint
			switch string(key) {
			case "id":
				bit = seenID
				var id []byte
				if id, ok = sc.str(); ok {
					p.id, p.hasID = view(id), true
				}
			case "ids":
				// Read like "set": values as JSON text for validate, and a
				// repeated type left to the reference decoder, which
				// words the error.
				bit = seenIDs
				p.ids, ok = sc.members(p.ids)
			case "set":
				bit = seenSet
				p.set, ok = sc.members(p.set)
			case "add":
				bit = seenAdd
				p.add, ok = sc.members(p.add)
			case "remove":
				bit = seenRemove
				p.remove, ok = sc.members(p.remove)
			case "unset":
				bit = seenUnset
				p.unset, ok = sc.names(p.unset)
			case "events":
				bit = seenEvents
				p.events, ok = sc.events(p.events)
			default:
				return p, false
			}
			if !ok || seen&bit != 0 {
				return p, false
			}
			seen |= bit
			if sc.eat(',') {
				continue
			}
			if sc.eat('}') {
				break
			}
			return p, false
		}
	}
	return p, sc.end()
}

// scanner reads JSON from b, starting at i. Its methods skip whitespace
// before what they read and report false on anything unexpected, leaving
// i wherever it got to: a false anywhere abandons the whole line.
type scanner struct {
	b []byte
	i int
	// spill, when set, is the events array a long history grows into
	// (an Arena's, reused line after line), instead of a new one per
	// line: a tenth of the generated records outgrow decodeFast's
	// buffer, and growing theirs was a fifth of a bulk load's garbage.
	spill *[]parsedEvent
}

func (sc *scanner) ws() {
	// Compact lines have no whitespace: one comparison settles that.
	for sc.i < len(sc.b) && sc.b[sc.i] <= ' ' {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// eat consumes c if it comes next.
func (sc *scanner) eat(c byte) bool {
	sc.ws()
	if sc.i < len(sc.b) && sc.b[sc.i] == c {
		sc.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (sc *scanner) end() bool {
	sc.ws()
	return sc.i == len(sc.b)
}

// key reads an object key. Keys with escapes are refused: no key of the
// format needs one, and encoding/json would match their decoded form.
func (sc *scanner) key() ([]byte, bool) {
	sc.ws()
	start := sc.i + 1
	end, escaped, ok := sc.skipString()
	if !ok || escaped {
		return nil, false
	}
	return sc.b[start : end-1], true
}

// str reads a string and returns its decoded contents: a slice of b when
// it has no escapes, a new buffer otherwise.
func (sc *scanner) str() ([]byte, bool) {
	sc.ws()
	start := sc.i
	end, escaped, ok := sc.skipString()
	if !ok {
		return nil, false
	}
	if !escaped {
		return sc.b[start+1 : end-1], true
	}
	return unescape(sc.b[start+1 : end-1]), true
}

// skipString moves past the string literal at i, checking its syntax as
// encoding/json's scanner does. It returns the index after the closing
// quote and whether the literal has escapes. b is valid UTF-8 (decodeFast
// checked the whole line), so bytes from 0x80 up need no look.
func (sc *scanner) skipString() (end int, escaped, ok bool) {
	b, i := sc.b, sc.i
	if i >= len(b) || b[i] != '"' {
		return 0, false, false
	}
	for i++; ; i++ {
		if i = skipPlain(b, i); i >= len(b) {
			return 0, false, false
		}
		switch c := b[i]; {
		case c == '"':
			sc.i = i + 1
			return i + 1, escaped, true
		case c < 0x20:
			return 0, false, false
		default: // '\\'
			escaped = true
			if i+1 >= len(b) {
				return 0, false, false
			}
			i++
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := hex4(b[i+1:]); !ok {
					return 0, false, false
				}
				i += 4
			default:
				return 0, false, false
			}
		}
	}
}

// skipPlain returns the index of the first byte from i on that may not
// stand for itself in a string (see stringPlain), or len(b). Most of a
// line is the contents of strings, so it looks at eight bytes at a time
// while it can.
func skipPlain(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := notPlain8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if stringPlain[b[i]] == 0 {
			break
		}
	}
	return i
}

// notPlain8 marks, in the top bit of each byte, the bytes of x (eight
// bytes, the first in the low byte) that are '"', '\\' or below 0x20. It
// is the classic test for a zero byte, (v - 0x01…) &^ v & 0x80…, applied
// to x xor '"', to x xor '\\', and with 0x20 in place of 0x01 to x itself;
// "&^ v" keeps bytes from 0x80 up out of all three. A borrow can mark a
// byte above a marked one falsely, never below it, so the lowest mark is
// exact, and that is the only one skipPlain uses.
func notPlain8(x uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	q := x ^ ('"' * ones)
	bs := x ^ ('\\' * ones)
	return ((q-ones)&^q | (bs-ones)&^bs | (x-0x20*ones)&^x) & highs
}

// stringPlain[c] is 1 for the bytes that may stand for themselves in a
// string: not '"', '\\' or a control character. A table, because it is
// looked up for most bytes of a line; a constant, so nothing can change it.
const stringPlain = "" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // 0x00–0x1f: control characters
	"\x01\x01\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // 0x20–0x3f: double quote
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x01\x01\x01" + // 0x40–0x5f: backslash
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // 0x60–0x7f
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // 0x80–0x9f
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // 0xa0–0xbf
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // 0xc0–0xdf
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" // 0xe0–0xff

// hex4 reads the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// unescape decodes the body of a string literal that skipString accepted.
// Surrogates follow encoding/json: a valid \uD8xx\uDCxx pair is one rune,
// and any other surrogate becomes U+FFFD, leaving a following escape to be
// read on its own.
func unescape(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		i++
		switch c = s[i]; c {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, _ := hex4(s[i+1:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2, _ = hex4(s[i+3:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, c)
		}
		i++
	}
	return out
}

// number moves past a number, checking the JSON grammar: encoding/json
// hands the validators only text that passed it, and strconv would accept
// more ("+1", "01").
func (sc *scanner) number() bool {
	b, i := sc.b, sc.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		if i+1 >= len(b) || !isDigit(b[i+1]) {
			return false
		}
		i = digits(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		i = digits(b, i)
	}
	sc.i = i
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// literal moves past word (true, false or null).
func (sc *scanner) literal(word string) bool {
	if !bytes.HasPrefix(sc.b[sc.i:], []byte(word)) {
		return false
	}
	sc.i += len(word)
	return true
}

// value moves past a value of "ids", "set", "add" or "remove" and returns
// its text. Values are scalars or lists of strings: anything else is an
// error in every field type and as an identifier, so the reference decoder
// can have it.
func (sc *scanner) value() ([]byte, bool) {
	sc.ws()
	if sc.i >= len(sc.b) {
		return nil, false
	}
	start := sc.i
	ok := false
	switch c := sc.b[sc.i]; c {
	case '"':
		_, _, ok = sc.skipString()
	case '[':
		sc.i++
		if ok = sc.eat(']'); ok {
			break
		}
		for {
			sc.ws()
			if _, _, ok = sc.skipString(); !ok {
				break
			}
			if sc.eat(',') {
				continue
			}
			ok = sc.eat(']')
			break
		}
	case 't':
		ok = sc.literal("true")
	case 'f':
		ok = sc.literal("false")
	case 'n':
		ok = sc.literal("null")
	default:
		ok = sc.number()
	}
	return sc.b[start:sc.i], ok
}

// members reads the object of "ids", "set", "add" or "remove", appending
// to dst, and sorts it by name. A repeated name makes it give up.
func (sc *scanner) members(dst []member) ([]member, bool) {
	if !sc.eat('{') {
		return nil, false
	}
	if sc.eat('}') {
		return dst, true
	}
	for {
		name, ok := sc.key()
		if !ok || !sc.eat(':') {
			return nil, false
		}
		raw, ok := sc.value()
		if !ok {
			return nil, false
		}
		dst = append(dst, member{name: view(name), raw: raw})
		if sc.eat(',') {
			continue
		}
		if sc.eat('}') {
			break
		}
		return nil, false
	}
	sortMembers(dst)
	for i := 1; i < len(dst); i++ {
		if dst[i].name == dst[i-1].name {
			return nil, false // the reference decides: the last wins in "set", "ids" refuses repeats
		}
	}
	return dst, true
}

// sortMembers sorts ms by name. Objects have a handful of members, and
// for those an insertion sort beats slices.SortFunc, which calls the
// comparison through a function value; past a handful it would not.
func sortMembers(ms []member) {
	if len(ms) > 16 {
		slices.SortFunc(ms, compareMembers)
		return
	}
	for i := 1; i < len(ms); i++ {
		m, j := ms[i], i
		for ; j > 0 && less(m.name, ms[j-1].name); j-- {
			ms[j] = ms[j-1]
		}
		ms[j] = m
	}
}

// sortStrings sorts vs, as slices.Sort does; for the few values of a
// typical list, by insertion with less.
func sortStrings(vs []string) {
	if len(vs) > 16 {
		slices.Sort(vs)
		return
	}
	for i := 1; i < len(vs); i++ {
		v, j := vs[i], i
		for ; j > 0 && less(v, vs[j-1]); j-- {
			vs[j] = vs[j-1]
		}
		vs[j] = v
	}
}

// less is a < b. Names and values of a record mostly differ in their
// first byte, which it compares without calling the runtime's comparison.
func less(a, b string) bool {
	if a != "" && b != "" && a[0] != b[0] {
		return a[0] < b[0]
	}
	return a < b
}

// names reads the list of "unset", appending to dst.
func (sc *scanner) names(dst []string) ([]string, bool) {
	if !sc.eat('[') {
		return nil, false
	}
	if sc.eat(']') {
		return dst, true
	}
	for {
		name, ok := sc.str()
		if !ok {
			return nil, false
		}
		dst = append(dst, view(name))
		if sc.eat(',') {
			continue
		}
		if sc.eat(']') {
			return dst, true
		}
		return nil, false
	}
}

// Bits of the event keys seen, to refuse duplicates.
const (
	seenField = 1 << iota
	seenValue
	seenTime
)

// events reads the list of "events", appending to dst.
func (sc *scanner) events(dst []parsedEvent) ([]parsedEvent, bool) {
	if !sc.eat('[') {
		return nil, false
	}
	if sc.eat(']') {
		return dst, true
	}
	for {
		if !sc.eat('{') {
			return nil, false
		}
		var e parsedEvent
		if !sc.eat('}') {
			var seen uint
			for {
				bit := sc.eventKey()
				if bit == 0 || !sc.eat(':') {
					return nil, false
				}
				val, ok := sc.str()
				if !ok {
					return nil, false
				}
				switch bit {
				case seenField:
					e.field, e.hasField = view(val), true
				case seenValue:
					e.value, e.hasValue = view(val), true
				case seenTime:
					e.time, e.hasTime = view(val), true
				}
				if seen&bit != 0 {
					return nil, false
				}
				seen |= bit
				if sc.eat(',') {
					continue
				}
				if sc.eat('}') {
					break
				}
				return nil, false
			}
		}
		if len(dst) == cap(dst) {
			dst = growEvents(dst, sc.b[sc.i:], sc.spill)
		}
		dst = append(dst, e)
		if sc.eat(',') {
			continue
		}
		if sc.eat(']') {
			return dst, true
		}
		return nil, false
	}
}

// growEvents makes room in the full dst for the event about to be
// appended and those that may follow in rest, the rest of the line. Long
// histories outgrow decodeFast's buffer; growing once to the count of
// braces left, which bounds the events left, costs one allocation and copy
// where doubling costs several. Validate refuses more than MaxEvents, which
// also bounds what a line of braces can make it allocate. With a spill
// array (see scanner) the events move there, grown only when it is too
// small: the previous line's events in it are out of use by then.
func growEvents(dst []parsedEvent, rest []byte, spill *[]parsedEvent) []parsedEvent {
	n := min(bytes.Count(rest, []byte{'{'}), MaxEvents) + 1
	if spill == nil || cap(*spill) > 0 && &(*spill)[:1][0] == &dst[:1][0] {
		return slices.Grow(dst, n)
	}
	out := append(slices.Grow((*spill)[:0], len(dst)+n), dst...)
	*spill = out[:0]
	return out
}

// eventKey reads the key of an event's member and returns its bit, or 0
// (having read nothing) for any other key. An event has only three keys,
// and a key without escapes is exactly its quoted name, so comparing the
// quoted names with the next bytes does what key and a switch on its
// result would, without scanning the string: most keys of a typical record
// are those of its events.
func (sc *scanner) eventKey() uint {
	sc.ws()
	b := sc.b[sc.i:]
	var bit uint
	var n int
	switch {
	case len(b) >= len(`"field"`) && string(b[:len(`"field"`)]) == `"field"`:
		bit, n = seenField, len(`"field"`)
	case len(b) >= len(`"value"`) && string(b[:len(`"value"`)]) == `"value"`:
		bit, n = seenValue, len(`"value"`)
	case len(b) >= len(`"time"`) && string(b[:len(`"time"`)]) == `"time"`:
		bit, n = seenTime, len(`"time"`)
	}
	sc.i += n
	return bit
}

// view returns b as a string without copying, for the strings of a parsed
// and for text that is only parsed. Nothing may keep the string past the
// call to Decode: b is often the caller's line buffer, which it reuses.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// plainString returns the contents of raw, a string literal, if it has no
// escapes; otherwise ok is false and the caller asks encoding/json. For a
// literal without escapes the two agree: there is nothing to decode.
//
// raw, like every value plainStrings is given, is part of a line that both
// decoders check to be valid UTF-8 before anything else, and the body of a
// literal, between two ASCII quotes, is then valid UTF-8 too: neither
// checks it again.
func plainString(raw []byte) (body []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	body = raw[1 : len(raw)-1]
	if skipPlain(body, 0) != len(body) {
		return nil, false
	}
	return body, true
}

// plainStrings reads raw as a list of strings without escapes, or reports
// false. Like encoding/json it returns an empty, non-nil slice for [].
func plainStrings(raw []byte, a *Arena) ([]string, bool) {
	sc := scanner{b: raw}
	if !sc.eat('[') {
		return nil, false
	}
	if sc.eat(']') {
		return []string{}, sc.end()
	}
	// Without escapes every string has exactly two quotes.
	vals := a.stringsFor(bytes.Count(raw, []byte{'"'}) / 2)
	for {
		sc.ws()
		start := sc.i
		end, escaped, ok := sc.skipString()
		if !ok || escaped {
			return nil, false
		}
		vals = append(vals, a.own(raw[start+1:end-1]))
		if sc.eat(',') {
			continue
		}
		if sc.eat(']') {
			break
		}
		return nil, false
	}
	if !sc.end() {
		return nil, false
	}
	return vals, true
}
