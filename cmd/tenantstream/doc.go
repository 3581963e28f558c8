// Command tenantstream runs the platform locally (serve) and its operator tools (billing, projections, notifications).
package main
