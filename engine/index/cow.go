package index

import "github.com/RoaringBitmap/roaring/v2"

// cowBitmap pairs the writer's bitmap with the clone readers last saw.
type cowBitmap struct {
	w     *roaring.Bitmap // writer's; copy-on-write enabled
	r     *roaring.Bitmap // published; never written after publication
	dirty bool
}

func newCOW() *cowBitmap {
	w := roaring.New()
	w.SetCopyOnWrite(true)
	return &cowBitmap{w: w, r: roaring.New()}
}

func (c *cowBitmap) add(row uint32) bool {
	if c.w.CheckedAdd(row) {
		c.dirty = true
		return true
	}
	return false
}

func (c *cowBitmap) remove(row uint32) bool {
	if c.w.CheckedRemove(row) {
		c.dirty = true
		return true
	}
	return false
}

func (c *cowBitmap) contains(row uint32) bool { return c.w.Contains(row) }

// replace swaps in a freshly computed writer bitmap (used when a bitmap is
// rebuilt wholesale, e.g. after retention drops days).
func (c *cowBitmap) replace(b *roaring.Bitmap) {
	b.SetCopyOnWrite(true)
	c.w = b
	c.dirty = true
}

// publish returns the bitmap readers should see now, cloning the writer's
// bitmap only if it changed since the last call.
func (c *cowBitmap) publish() *roaring.Bitmap {
	if c.dirty {
		r := c.w.Clone()
		r.SetCopyOnWrite(false)
		c.r = r
		c.dirty = false
	}
	return c.r
}
