// Package projections runs projections: checkpoints, gap fill, parking, rebuilds, and the projections themselves.
package projections
