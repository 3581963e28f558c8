// Package projectiontest checks that a projection gives the same read model under shuffled, duplicated and reordered delivery as under in-order replay.
package projectiontest
