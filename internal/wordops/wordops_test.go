package wordops

import (
	"math/rand/v2"
	"testing"
)

// TestAgainstLoops checks every operation against the plain loop over
// lengths around the 16-word groups, including offsets into larger
// arrays (unaligned starts) and src longer than dst.
func TestAgainstLoops(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ops := []struct {
		name  string
		fast  func(dst, src []uint64)
		plain func(dst, src []uint64)
	}{
		{"And", And, andGo},
		{"AndNot", AndNot, andNotGo},
		{"Or", Or, orGo},
	}
	for _, op := range ops {
		for n := range 70 {
			for _, off := range []int{0, 1, 3} {
				dst := randomWords(r, n+off+2)[off : off+n]
				src := randomWords(r, n+off+5)[off:]
				want := append([]uint64(nil), dst...)
				op.plain(want, src)
				got := append([]uint64(nil), dst...)
				op.fast(got, src)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s n=%d off=%d: word %d = %x, want %x", op.name, n, off, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestBounds: the words past dst are left alone, and a src shorter than
// dst panics as the loop would.
func TestBounds(t *testing.T) {
	buf := make([]uint64, 40)
	for i := range buf {
		buf[i] = ^uint64(0)
	}
	And(buf[:32], make([]uint64, 32))
	for i, w := range buf {
		if (i < 32) != (w == 0) {
			t.Fatalf("word %d = %x after And over the first 32", i, w)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("And with a short src did not panic")
		}
	}()
	And(make([]uint64, 32), make([]uint64, 31))
}

func TestCounts(t *testing.T) {
	for n := range 70 {
		testCounts(t, n)
	}
	testCounts(t, 1000)
}

func testCounts(t *testing.T, n int) {
	r := rand.New(rand.NewPCG(9, uint64(n)))
	a, b := randomWords(r, n), randomWords(r, n)
	want, wantAnd := 0, 0
	for i := range a {
		for bit := range 64 {
			if a[i]>>bit&1 == 1 {
				want++
				if b[i]>>bit&1 == 1 {
					wantAnd++
				}
			}
		}
	}
	if got := Count(a); got != want {
		t.Fatalf("%d words: Count = %d, want %d", n, got, want)
	}
	if got := AndCount(a, b); got != wantAnd {
		t.Fatalf("%d words: AndCount = %d, want %d", n, got, wantAnd)
	}
}

func randomWords(r *rand.Rand, n int) []uint64 {
	w := make([]uint64, n)
	for i := range w {
		w[i] = r.Uint64()
	}
	return w
}

func BenchmarkAnd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	dst, src := randomWords(r, 1024), randomWords(r, 1024)
	b.Run("impl=wordops", func(b *testing.B) {
		b.SetBytes(8 * 1024)
		for b.Loop() {
			And(dst, src)
		}
	})
	b.Run("impl=loop", func(b *testing.B) {
		b.SetBytes(8 * 1024)
		for b.Loop() {
			andGo(dst, src)
		}
	})
}

// TestCountAnd checks the blocked count against a bit by bit one, with
// sets of different lengths (subtracted ones shorter and longer) and
// blocks that do not divide the words.
func TestCountAnd(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 50 {
		n := 1 + r.IntN(3000)
		k := 1 + r.IntN(5)
		sets := make([][]uint64, k)
		minus := make([]bool, k)
		for i := range sets {
			sets[i] = randomWords(r, max(1, n-r.IntN(n/2+1)+r.IntN(100)))
			minus[i] = i > 0 && r.IntN(3) == 0
		}
		words := len(sets[0])
		for i, s := range sets {
			if !minus[i] {
				words = min(words, len(s))
			}
		}
		want := 0
		for w := range words {
			for bit := range 64 {
				in := true
				for i, s := range sets {
					set := w < len(s) && s[w]>>bit&1 == 1
					if set == minus[i] {
						in = false
					}
				}
				if in {
					want++
				}
			}
		}
		buf := make([]uint64, []int{BlockWords, 100, 7}[round%3])
		if got := CountAnd(sets, minus, buf); got != want {
			t.Fatalf("round %d: CountAnd = %d, want %d", round, got, want)
		}
	}
}
