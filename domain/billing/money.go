package billing

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// minorUnits maps ISO 4217 codes to their minor-unit digits. Only currencies a SaaS is
// likely to bill in are listed; an unknown code is rejected rather than guessed.
var minorUnits = map[string]int32{
	"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "NZD": 2, "SEK": 2,
	"NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "RON": 2, "BRL": 2, "MXN": 2,
	"INR": 2, "CNY": 2, "HKD": 2, "SGD": 2, "ZAR": 2, "ILS": 2, "AED": 2, "SAR": 2,
	"TRY": 2, "THB": 2, "MYR": 2, "PHP": 2, "IDR": 2, "TWD": 2,
	"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "UGX": 0, "XAF": 0, "XOF": 0,
	"BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3,
}

// MinorUnits returns the number of minor-unit digits of an ISO 4217 currency code.
func MinorUnits(currency string) (int32, error) {
	d, ok := minorUnits[currency]
	if !ok {
		return 0, fmt.Errorf("minor units of %q: %w", currency, ErrUnknownCurrency)
	}
	return d, nil
}

// RoundMoney rounds an amount to the currency's minor unit, half away from zero
// (docs/ARCHITECTURE.md, decision 7). decimal.Round rounds half away from zero for negatives too;
// TestRoundMoneyHalfAwayFromZero pins that.
func RoundMoney(amount decimal.Decimal, minor int32) decimal.Decimal {
	return amount.Round(minor)
}

// maxPriceScale is the number of decimal places a unit price may carry (decision 7).
const maxPriceScale = 12
