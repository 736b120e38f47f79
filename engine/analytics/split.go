package analytics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/cespare/xxhash/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/index"
)

// MaxGroups bounds the groups of one split.
const MaxGroups = 100

// groupName is the pattern of saved segment names (storage keeps the
// same one): groups are often saved as segments under their names.
var groupName = regexp.MustCompile(`^[\p{L}\p{N}_.-]{1,128}$`)

// Group is one arm of a split: its name and its share of the segment, in
// per cent.
type Group struct {
	Name    string  `json:"name"`
	Percent float64 `json:"percent"`
}

// SplitOptions configure Split.
type SplitOptions struct {
	Groups []Group
	// Salt names the experiment: the same salt puts a profile in the same
	// group every time; another salt draws independently.
	Salt string
	// Cap, if not 0, keeps at most Cap profiles over all groups.
	Cap uint64
	// CapBy chooses which profiles a cap keeps: "" or "random" keeps the
	// Cap profiles with the smallest hash (a stable random sample);
	// a numeric field name keeps the Cap largest values of that field,
	// ties by hash, profiles without a value last (by hash).
	CapBy string
}

// GroupResult is one group of a split.
type GroupResult struct {
	Name    string          `json:"name"`
	Percent float64         `json:"percent"`
	Count   uint64          `json:"count"`
	Rows    *roaring.Bitmap `json:"-"`
}

// Split divides the segment seg (rows of sn) into groups. A profile's
// group depends only on the salt and its external id — a 64-bit xxhash of
// salt, NUL, id, mapped to [0,1) and placed by cumulative percentages —
// so it never changes when other profiles arrive, when the dataset is
// rebuilt in another order, or when the server restarts. A cap is as
// stable: see SplitOptions.CapBy.
func Split(ctx context.Context, sn *engine.Snapshot, seg *roaring.Bitmap, opts SplitOptions) ([]GroupResult, error) {
	if sn == nil || seg == nil {
		return nil, errors.New("split: snapshot and segment are required")
	}
	if err := checkRows(sn, seg); err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	thresholds, err := checkGroups(opts.Groups)
	if err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	members := seg
	if opts.Cap > 0 && opts.Cap < seg.GetCardinality() {
		if members, err = capSegment(ctx, sn, seg, opts); err != nil {
			return nil, fmt.Errorf("split: cap: %w", err)
		}
	}
	h := newHasher(opts.Salt, "")
	bufs := make([][]uint32, len(opts.Groups))
	out := make([]GroupResult, len(opts.Groups))
	for i, g := range opts.Groups {
		out[i] = GroupResult{Name: g.Name, Percent: g.Percent, Rows: roaring.New()}
	}
	flush := func(i int) {
		out[i].Rows.AddMany(bufs[i])
		bufs[i] = bufs[i][:0]
	}
	err = eachRow(ctx, members, func(row uint32) {
		u := h.hash(sn, row) >> 11 // 53 bits: [0,1) scaled by 2^53
		g, _ := slices.BinarySearch(thresholds, u+1)
		bufs[g] = append(bufs[g], row)
		if len(bufs[g]) == 4096 {
			flush(g)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	for i := range out {
		flush(i)
		out[i].Count = out[i].Rows.GetCardinality()
	}
	return out, nil
}

// checkGroups validates the groups and returns each group's upper bound
// on the 53-bit hash scale: a profile whose hash u satisfies
// thresholds[i-1] <= u < thresholds[i] is in group i. Integer bounds keep
// the draw exact and the same on every platform.
func checkGroups(groups []Group) ([]uint64, error) {
	if len(groups) == 0 {
		return nil, errors.New("no groups given")
	}
	if len(groups) > MaxGroups {
		return nil, fmt.Errorf("%d groups, at most %d allowed", len(groups), MaxGroups)
	}
	seen := map[string]bool{}
	var sum float64
	for _, g := range groups {
		if !groupName.MatchString(g.Name) {
			return nil, fmt.Errorf("group name %q must be 1–128 letters, digits, '_', '.' or '-'", g.Name)
		}
		if seen[g.Name] {
			return nil, fmt.Errorf("group %q appears twice", g.Name)
		}
		seen[g.Name] = true
		if !(g.Percent > 0) || math.IsInf(g.Percent, 0) {
			return nil, fmt.Errorf("group %q: percent must be greater than 0 (got %v)", g.Name, g.Percent)
		}
		sum += g.Percent
	}
	if math.Abs(sum-100) > 1e-9 {
		return nil, fmt.Errorf("group percentages add up to %v, not 100", sum)
	}
	const scale = 1 << 53
	th := make([]uint64, len(groups))
	var cum float64
	for i, g := range groups {
		cum += g.Percent
		th[i] = uint64(math.Round(cum / sum * scale))
	}
	th[len(th)-1] = scale // rounding must not leave a sliver unassigned
	return th, nil
}

// hasher hashes "salt + suffix + NUL + external id" without allocating.
type hasher struct {
	buf    []byte
	prefix int
}

func newHasher(salt, suffix string) *hasher {
	b := append([]byte(salt+suffix), 0)
	return &hasher{buf: b, prefix: len(b)}
}

func (h *hasher) hash(sn *engine.Snapshot, row uint32) uint64 {
	h.buf = sn.AppendExternalID(h.buf[:h.prefix], row)
	return xxhash.Sum64(h.buf)
}

// capSuffix makes the cap's hash independent of the group draw: with
// the same hash, a cap would keep the low end of the hash range, which is
// the first group, and starve the others.
const capSuffix = "\x00cap"

// capSegment chooses the profiles a cap keeps.
func capSegment(ctx context.Context, sn *engine.Snapshot, seg *roaring.Bitmap, opts SplitOptions) (*roaring.Bitmap, error) {
	if opts.CapBy == "" || strings.EqualFold(opts.CapBy, "random") {
		return smallestHash(ctx, sn, seg, opts.Cap, opts.Salt)
	}
	fv, err := sn.Field(opts.CapBy)
	if err != nil {
		return nil, err
	}
	if fv.BSI == nil {
		return nil, fmt.Errorf("cap_by field %s is %s field; it must be an int, decimal or date", fv.Field.Name, fv.Field.Type.Article())
	}
	bsi := fv.BSI
	rows := roaring.And(bsi.Exists(), seg)
	n := rows.GetCardinality()
	if n <= opts.Cap {
		// Everyone with a value, then the rest at random.
		rest, err := smallestHash(ctx, sn, roaring.AndNot(seg, rows), opts.Cap-n, opts.Salt)
		if err != nil {
			return nil, err
		}
		rows.Or(rest)
		return rows, nil
	}
	// The Cap-th largest value is the (n-Cap+1)-th smallest: everyone
	// above it is in, and the ties at it are drawn by hash.
	lo, _ := bsi.Bounds()
	t := lo + int64(newPrefixWalker(usedSlices(bsi.Slices()), rows, n).selectRank(n-opts.Cap+1))
	above := bsi.CompareWithin(index.GT, t, rows)
	ties := bsi.CompareWithin(index.EQ, t, rows)
	pick, err := smallestHash(ctx, sn, ties, opts.Cap-above.GetCardinality(), opts.Salt)
	if err != nil {
		return nil, err
	}
	above.Or(pick)
	return above, nil
}

// smallestHash returns the k rows of b with the smallest cap hash (ties,
// vanishingly rare with 64 bits, by external id): a sample that depends
// only on the ids, never on row order.
func smallestHash(ctx context.Context, sn *engine.Snapshot, b *roaring.Bitmap, k uint64, salt string) (*roaring.Bitmap, error) {
	n := b.GetCardinality()
	if k == 0 {
		return roaring.New(), nil
	}
	if k >= n {
		return b.Clone(), nil
	}
	h := newHasher(salt, capSuffix)
	hashes := make([]uint64, 0, n)
	if err := eachRow(ctx, b, func(row uint32) { hashes = append(hashes, h.hash(sn, row)) }); err != nil {
		return nil, err
	}
	// The k-th smallest hash is the threshold: one linear selection on a
	// copy rather than a sort or a heap over every member.
	t := nthSmallest(slices.Clone(hashes), int(k-1))
	var below uint64
	for _, x := range hashes {
		if x < t {
			below++
		}
	}
	out := roaring.New()
	var ties []uint32
	i := 0
	err := eachRow(ctx, b, func(row uint32) {
		switch x := hashes[i]; {
		case x < t:
			out.Add(row)
		case x == t:
			ties = append(ties, row)
		}
		i++
	})
	if err != nil {
		return nil, err
	}
	if need := k - below; need < uint64(len(ties)) {
		slices.SortFunc(ties, func(a, b uint32) int { return strings.Compare(sn.ExternalID(a), sn.ExternalID(b)) })
		ties = ties[:need]
	}
	out.AddMany(ties)
	return out, nil
}

// nthSmallest returns the element that would be at position k if xs were
// sorted (Hoare's selection, reordering xs). The pivot is the median of
// three, so inputs that are already ordered stay linear.
func nthSmallest(xs []uint64, k int) uint64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		a, b, c := xs[lo], xs[mid], xs[hi]
		pivot := max(min(a, b), min(max(a, b), c))
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

// eachRow calls fn for every row of b in order, checking ctx every few
// thousand rows.
func eachRow(ctx context.Context, b *roaring.Bitmap, fn func(uint32)) error {
	it := b.ManyIterator()
	buf := make([]uint32, 4096)
	for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, row := range buf[:n] {
			fn(row)
		}
	}
	return nil
}
