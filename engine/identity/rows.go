package identity

import "slices"

// pageBits sizes the pages of a rowArray: 1024 entries (4 KiB). Smaller
// pages make the first write to a published page cheaper to copy; larger
// ones make publishing (a copy of the page table) cheaper. At 10M rows the
// table is ~10K pointers.
const (
	pageBits = 10
	pageSize = 1 << pageBits
	pageMask = pageSize - 1
)

type page struct {
	gen uint64 // the generation the page was created or copied in
	v   [pageSize]uint32
}

// rowArray is a uint32 per row, mostly zero, that readers see as immutable
// snapshots while the writer changes it. Pages are allocated on the first
// non-zero write (a dataset without merges holds no parent pages at all)
// and copied on the first write after a publication.
type rowArray struct {
	pages   []*page
	gen     uint64 // pages with an older gen are shared with a view
	changed bool
	last    rowView
}

func (a *rowArray) get(row uint32) uint32 {
	p := int(row >> pageBits)
	if p >= len(a.pages) || a.pages[p] == nil {
		return 0
	}
	return a.pages[p].v[row&pageMask]
}

func (a *rowArray) set(row, v uint32) {
	p := int(row >> pageBits)
	if p >= len(a.pages) {
		if v == 0 {
			return
		}
		a.pages = append(a.pages, make([]*page, p+1-len(a.pages))...)
	}
	pg := a.pages[p]
	switch {
	case pg == nil:
		if v == 0 {
			return
		}
		pg = &page{gen: a.gen}
		a.pages[p] = pg
	case pg.gen != a.gen:
		cp := *pg
		cp.gen = a.gen
		pg = &cp
		a.pages[p] = pg
	}
	pg.v[row&pageMask] = v
	a.changed = true
}

// view publishes the array: the view keeps the current pages, and the
// writer copies any of them before writing to it again.
func (a *rowArray) view() rowView {
	if a.changed || (a.last.pages == nil && a.pages != nil) {
		a.last = rowView{pages: slices.Clone(a.pages)}
		a.gen++
		a.changed = false
	}
	return a.last
}

// bytes returns the memory the writer's pages hold.
func (a *rowArray) bytes() int { return len(a.pages)*8 + a.allocated()*pageSize*4 }

func (a *rowArray) allocated() int {
	n := 0
	for _, p := range a.pages {
		if p != nil {
			n++
		}
	}
	return n
}

// rowView is an immutable rowArray.
type rowView struct{ pages []*page }

func (v rowView) get(row uint32) uint32 {
	p := int(row >> pageBits)
	if p >= len(v.pages) || v.pages[p] == nil {
		return 0
	}
	return v.pages[p].v[row&pageMask]
}
