// Package httpapi is tenantstream's one http.Handler, served locally and behind API Gateway alike.
package httpapi
