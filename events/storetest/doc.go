// Package storetest is the contract suite every events.Store backend must pass unchanged.
package storetest
