package export

import (
	"github.com/cohortdb/cohort/internal/jsonstr"
	"strconv"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/schema"
)

type kind uint8

const (
	kindList kind = iota // tag, set, event: value ids per row
	kindBool
	kindNum // int, decimal, date: a bit-sliced index
)

// node is one value of one row in a multi-valued slot: rows' lists are
// linked through a block-wide node array, so a block needs no per-row
// slices.
type node struct {
	val  int32 // index in column.names
	next int32 // next node of the same row, -1 at the end
}

// column is one exported field and its per-block slots, indexed by the
// low 16 bits of the row.
type column struct {
	field *schema.Field
	view  *engine.FieldView
	kind  kind
	multi bool   // set, event: an NDJSON array
	key   []byte // NDJSON: `,"name":`
	exist *roaring.Bitmap

	// kindList: the value bitmaps in dictionary order and, per slot, the
	// first node of the row's list (-1: none).
	names []string
	bms   []*roaring.Bitmap
	head  []int32
	nodes []node

	// kindBool, kindNum: per slot 0 = no value, 1 = a value (bool: false),
	// 2 = true; kindNum also the offset from lo rebuilt from the slices.
	state  []uint8
	yes    *roaring.Bitmap
	lo     int64
	slices []*roaring.Bitmap
	num    []uint64
}

// prepare resolves the field's bitmaps (the snapshot is immutable, so once
// per export) and allocates the slots.
func (c *column) prepare(csv bool) {
	if !csv {
		c.key = jsonstr.Append([]byte{','}, c.field.Name)
		c.key = append(c.key, ':')
	}
	v := c.view
	c.exist = v.Exists()
	switch {
	case v.Values != nil:
		c.kind = kindList
		c.multi = c.field.Type == schema.Set
		c.names = v.Values.Values()
		c.bms = make([]*roaring.Bitmap, len(c.names))
		for i, name := range c.names {
			c.bms[i] = v.Values.Bitmap(name)
		}
	case v.Events != nil:
		c.kind = kindList
		c.multi = true
		c.names = v.Events.Values()
		c.bms = make([]*roaring.Bitmap, len(c.names))
		for i := range c.names {
			c.bms[i], _, _ = v.Events.ValueBitmaps(i)
		}
	case v.Bool != nil:
		c.kind = kindBool
		c.yes = v.Bool.True()
	default:
		c.kind = kindNum
		c.lo, _ = v.BSI.Bounds()
		c.slices = v.BSI.Slices()
		c.num = make([]uint64, blockSize)
	}
	if c.kind == kindList {
		c.head = make([]int32, blockSize)
		for i := range c.head {
			c.head[i] = -1
		}
	} else {
		c.state = make([]uint8, blockSize)
	}
}

// fill records the values of the rows of blk (one block of the audience).
func (c *column) fill(blk *roaring.Bitmap) {
	in := roaring.And(c.exist, blk)
	if in.IsEmpty() {
		return
	}
	switch c.kind {
	case kindList:
		// Walking the values backwards and prepending leaves each row's
		// list in dictionary order.
		for i := len(c.bms) - 1; i >= 0; i-- {
			val := int32(i)
			roaring.And(c.bms[i], in).Iterate(func(x uint32) bool {
				s := x & lowMask
				c.nodes = append(c.nodes, node{val: val, next: c.head[s]})
				c.head[s] = int32(len(c.nodes) - 1)
				return true
			})
		}
	case kindBool:
		in.Iterate(func(x uint32) bool { c.state[x&lowMask] = 1; return true })
		roaring.And(c.yes, in).Iterate(func(x uint32) bool { c.state[x&lowMask] = 2; return true })
	case kindNum:
		in.Iterate(func(x uint32) bool { c.state[x&lowMask] = 1; return true })
		for i, sl := range c.slices {
			if sl.IsEmpty() {
				continue
			}
			bit := uint64(1) << i
			roaring.And(sl, in).Iterate(func(x uint32) bool { c.num[x&lowMask] |= bit; return true })
		}
	}
}

// reset clears the slots of the block's rows for the next block.
func (c *column) reset(rows []uint32) {
	switch c.kind {
	case kindList:
		for _, r := range rows {
			c.head[r&lowMask] = -1
		}
		c.nodes = c.nodes[:0]
	case kindBool:
		for _, r := range rows {
			c.state[r&lowMask] = 0
		}
	case kindNum:
		for _, r := range rows {
			c.state[r&lowMask] = 0
			c.num[r&lowMask] = 0
		}
	}
}

// appendScalar appends a bool or numeric slot's value as CSV and JSON
// both write it (a date without its JSON quotes); nothing if unset.
func (c *column) appendScalar(dst []byte, slot uint32) []byte {
	st := c.state[slot]
	if st == 0 {
		return dst
	}
	if c.kind == kindBool {
		if st == 2 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	}
	// As BSIView.Value: the stored offset from the lower bound.
	v := c.lo + int64(c.num[slot])
	switch c.field.Type {
	case schema.Decimal:
		return appendDecimal(dst, v, c.field.Scale)
	case schema.Date:
		return schema.DayTime(schema.Day(v)).AppendFormat(dst, time.DateOnly)
	}
	return strconv.AppendInt(dst, v, 10)
}
