package commands

// maxChunk is the most entries one read of a capped page fetches (ListItems,
// the events log). Even when each is as large as allowed (64 KiB of data) that
// is about 4 MiB, so a request holds at most that and its page, whatever limit
// it asks for.
const maxChunk = 64

// nextChunk is how many entries the next read of a capped page fetches: no more
// than need, 16 on the first read and doubling up to maxChunk (small entries
// take few reads), and once entries were seen only as many of the largest seen
// as the bytes left in the page hold, plus one (large entries are not read four
// times over to fill one page).
func nextChunk(need, reads, largest, bytesLeft int) int {
	n := min(need, maxChunk, 16<<min(reads, 2))
	if largest > 0 {
		n = min(n, bytesLeft/largest+1)
	}
	return max(n, 1)
}
