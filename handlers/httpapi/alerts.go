package httpapi

import (
	"net/http"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

// AlertsRequest is the body of PUT /tenants/{tenant_id}/alerts: every
// threshold (the list replaces the one before; an empty list turns the
// plan's defaults off) and an optional spend cap. Decimals are strings.
type AlertsRequest struct {
	Thresholds *[]billing.Threshold `json:"thresholds"`
	SpendCap   *string              `json:"spend_cap,omitempty"`
}

// command is the request as the command takes it; a body without
// thresholds is a 400 (say [] to have none).
func (b AlertsRequest) command() (commands.AlertsRequest, error) {
	if b.Thresholds == nil {
		return commands.AlertsRequest{}, domain.FieldError("thresholds", "is required: a list of thresholds ([] for none)")
	}
	return commands.AlertsRequest{Thresholds: *b.Thresholds, SpendCap: b.SpendCap}, nil
}

// alerts answers the tenant's alert configuration (docs/api.md, "Alerts and spend caps").
func (a *API) alerts(w http.ResponseWriter, r *http.Request) error {
	return a.query(func(r *http.Request, m commands.Meta) (any, error) {
		return a.Service.Alerts(r.Context(), m, r.PathValue("tenant_id"))
	})(w, r)
}

// configureAlerts replaces the tenant's alert configuration (tenant_admin only).
func (a *API) configureAlerts(w http.ResponseWriter, r *http.Request) error {
	m, err := a.meta(r)
	if err != nil {
		return err
	}
	var body AlertsRequest
	if err := problem.DecodeJSON(r, maxCommandBody, &body); err != nil {
		return err
	}
	finishFingerprint(r, &m)
	req, err := body.command()
	if err != nil {
		return err
	}
	v, err := a.Service.ConfigureAlerts(r.Context(), m, r.PathValue("tenant_id"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}
