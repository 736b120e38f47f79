package engine

// CompactForTest runs the rebuild of grown bitmap tails that a Bulk runs
// every 2^20 records between publications (more than a test applies).
func (d *Dataset) CompactForTest() { d.compact() }
