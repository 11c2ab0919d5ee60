package requests

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func asset(doc map[string]any, i int, kind string) map[string]any {
	return doc["assets"].([]any)[i].(map[string]any)[kind].(map[string]any)
}

// Each network's addresses have their own form; an address of another
// network, or of no network, is refused with what the network expects.
func TestVirtualAssetAddresses(t *testing.T) {
	const (
		bitcoin  = "must be a Bitcoin address: base58 starting with 1 or 3, or bech32 starting with bc1 (pattern ^([13][1-9A-HJ-NP-Za-km-z]{25,34}|bc1[ac-hj-np-z02-9]{11,71}|BC1[AC-HJ-NP-Z02-9]{11,71})$)"
		evm      = "must be an EVM address: 0x and 40 hexadecimal digits (pattern ^0x[0-9A-Fa-f]{40}$)"
		tron     = "must be a Tron address: T and 33 base58 characters (pattern ^T[1-9A-HJ-NP-Za-km-z]{33}$)"
		litecoin = "must be a Litecoin address: base58 starting with L, M or 3, or bech32 starting with ltc1 (pattern ^([LM3][1-9A-HJ-NP-Za-km-z]{25,33}|ltc1[ac-hj-np-z02-9]{11,71}|LTC1[AC-HJ-NP-Z02-9]{11,71})$)"
		solana   = "must be a Solana address: 32 to 44 base58 characters (pattern ^[1-9A-HJ-NP-Za-km-z]{32,44}$)"
		monero   = "must be a Monero address: 95 or 106 base58 characters starting with 4 or 8 (pattern ^[48][1-9A-HJ-NP-Za-km-z]{94}([1-9A-HJ-NP-Za-km-z]{11})?$)"
		generic  = "must be an address of letters, digits and . _ - without a URI scheme or spaces (pattern ^[A-Za-z0-9][A-Za-z0-9._-]*$)"
	)
	moneroAddress := "4" + strings.Repeat("A", 94)
	cases := []struct {
		network, address string
		want             []string // none when accepted
	}{
		{"Bitcoin", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", nil},
		{"Bitcoin", "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ", nil},
		{"Bitcoin", "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297", nil},
		{"Bitcoin", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", nil},
		{"Bitcoin", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", nil},
		{"Bitcoin", "0xc69ea13227bace6e1f8a06364d93f4a6f0463243", []string{bitcoin}},
		{"Bitcoin", "bc1Qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", []string{bitcoin}},                  // mixed case
		{"Bitcoin", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdb", []string{bitcoin}},                  // b is not bech32
		{"Bitcoin", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN0", []string{bitcoin}},                          // 0 is not base58
		{"Bitcoin", "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", []string{bitcoin, generic}}, // a URI
		{"Ethereum", "0xc69ea13227bace6e1f8a06364d93f4a6f0463243", nil},
		{"Ethereum", "0xC69eA13227BacE6e1f8A06364d93f4A6F0463243", nil},
		{"BNBSmartChain", "0xc69ea13227bace6e1f8a06364d93f4a6f0463243", nil},
		{"Polygon", "0xc69ea13227bace6e1f8a06364d93f4a6f0463243", nil},
		{"Ethereum", "0xc69ea13227bace6e1f8a06364d93f4a6f046324", []string{evm}},
		{"Ethereum", "c69ea13227bace6e1f8a06364d93f4a6f0463243", []string{evm}},
		{"Polygon", "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7", []string{evm}},
		{"Tron", "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7", nil},
		{"Tron", "0xc69ea13227bace6e1f8a06364d93f4a6f0463243", []string{tron}},
		{"Tron", "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU", []string{tron}},
		{"Tron", "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjO7", []string{tron}},
		{"Litecoin", "LaMT348PWRnrqeeWArpwQPbuanpXDZGEUz", nil},
		{"Litecoin", "ltc1qg82tv0ewyhyn3rdk4hj0hs4kqdme0ylxz8y2xg", nil},
		{"Litecoin", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", []string{litecoin}},
		{"Solana", "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV", nil},
		{"Solana", "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV0", []string{solana}},
		{"Monero", moneroAddress, nil},
		{"Monero", moneroAddress + strings.Repeat("B", 11), nil},
		{"Monero", moneroAddress[:90], []string{monero}},
		{"Monero", "1" + moneroAddress[1:], []string{monero}},
		{"Other", "addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3jcu5d8ps7zex2k2xt3uqxgjqnnj83ws8lhrn648jjxtwq2ytjqp", nil},
		{"Other", "bitcoin:bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", []string{generic}},
		{"Other", "0.0.12345 ", []string{generic}},
	}
	for _, c := range cases {
		t.Run(c.network+"/"+c.address, func(t *testing.T) {
			doc := exampleDoc(t, AssetFreezing)
			a := asset(doc, 0, "virtualAssetAddress")
			a["network"], a["address"] = c.network, c.address
			delete(a, "memo")
			if c.network == "Other" {
				a["networkName"] = "Cardano"
			}
			req, fields, err := Parse(marshal(t, doc), testNow)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.want) == 0 {
				if req == nil {
					t.Fatalf("refused:\n%s", lines(fields))
				}
				return
			}
			var want []FieldError
			for _, msg := range c.want {
				want = append(want, FieldError{"/assets/0/virtualAssetAddress/address", msg})
			}
			if req != nil || !reflect.DeepEqual(fields, want) {
				t.Errorf("field errors:\n%s\nwant:\n%s", lines(fields), lines(want))
			}
		})
	}
}

func TestAssetFieldErrors(t *testing.T) {
	cases := []struct {
		name   string
		typ    Type
		mutate func(doc map[string]any)
		want   []FieldError
	}{{
		name: "network names",
		typ:  AssetTracing,
		mutate: func(doc map[string]any) {
			asset(doc, 0, "virtualAssetAddress")["networkName"] = "Bitcoin mainnet"
			a := asset(doc, 1, "virtualAssetAddress")
			a["network"], a["address"] = "Other", "addr1qx2fxv2umyhttkxyxp8x0dlpdt3k6cwng5pxj3jhsydzer3"
			doc["assets"] = append(doc["assets"].([]any), map[string]any{"virtualAssetAddress": map[string]any{"network": "Dogecoin", "address": "DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L"}})
		},
		want: []FieldError{
			{"/assets/0/virtualAssetAddress/networkName", "is only allowed when network is Other"},
			{"/assets/1/virtualAssetAddress/networkName", "is required when network is Other: name the network"},
			{"/assets/3/virtualAssetAddress/network", "must be one of Bitcoin, Ethereum, Tron, Litecoin, BNBSmartChain, Polygon, Solana, Monero, Other"},
		},
	}, {
		name: "amounts",
		typ:  AssetFreezing,
		mutate: func(doc map[string]any) {
			asset(doc, 0, "virtualAssetAddress")["amount"] = map[string]any{"value": 1250000.5, "ticker": "usdt"}
			asset(doc, 1, "virtualAssetAddress")["amount"] = map[string]any{"value": "0.0000000000000000001", "ticker": "ETH", "currency": "EUR"}
			asset(doc, 2, "bankAccount")["amount"] = map[string]any{"value": "2,400,000,000", "currency": "Dong"}
			asset(doc, 3, "bankAccount")["amount"] = map[string]any{"value": "-18500", "ticker": "EUR"}
		},
		want: []FieldError{
			{"/assets/0/virtualAssetAddress/amount/ticker", "must be a ticker symbol of 2 to 10 capital letters or digits, e.g. BTC or USDT (pattern ^[A-Z0-9]{2,10}$)"},
			{"/assets/0/virtualAssetAddress/amount/value", "must be a string, not a number"},
			{"/assets/1/virtualAssetAddress/amount/currency", "is not a field of amount; its fields are ticker, value"},
			{"/assets/1/virtualAssetAddress/amount/value", "must be a decimal amount written as a string: digits, optionally a point and up to 18 decimals, e.g. 1250000.50 (pattern ^(0|[1-9][0-9]{0,29})(\\.[0-9]{1,18})?$)"},
			{"/assets/2/bankAccount/amount/currency", "must be an ISO 4217 currency code in capitals, e.g. EUR (pattern ^[A-Z]{3}$)"},
			{"/assets/2/bankAccount/amount/currency", "must be at most 3 characters long"},
			{"/assets/2/bankAccount/amount/value", "must be a decimal amount written as a string: digits, optionally a point and up to 18 decimals, e.g. 1250000.50 (pattern ^(0|[1-9][0-9]{0,29})(\\.[0-9]{1,18})?$)"},
			{"/assets/3/bankAccount/amount/currency", "is required"},
			{"/assets/3/bankAccount/amount/ticker", "is not a field of amount; its fields are currency, value"},
			{"/assets/3/bankAccount/amount/value", "must be a decimal amount written as a string: digits, optionally a point and up to 18 decimals, e.g. 1250000.50 (pattern ^(0|[1-9][0-9]{0,29})(\\.[0-9]{1,18})?$)"},
		},
	}, {
		name: "bank accounts",
		typ:  AssetFreezing,
		mutate: func(doc map[string]any) {
			asset(doc, 2, "bankAccount")["iban"] = "VN00ORIA0451000382176"
			asset(doc, 2, "bankAccount")["bic"] = "oriavnvx"
			asset(doc, 3, "bankAccount")["iban"] = "FR76 3000 6000 0112 3456 7890 189"
		},
		want: []FieldError{
			{"/assets/2/bankAccount", "needs exactly one of iban and accountNumber"},
			{"/assets/2/bankAccount/bic", "must be a BIC: 8 or 11 letters or digits in capitals, e.g. AGRIFRPP (pattern ^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$)"},
			{"/assets/3/bankAccount/iban", "must be an IBAN: country code, 2 check digits and up to 30 letters or digits, in capitals without spaces (pattern ^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$)"},
		},
	}, {
		name: "an asset that is both kinds",
		typ:  AssetTracing,
		mutate: func(doc map[string]any) {
			doc["assets"].([]any)[2].(map[string]any)["virtualAssetAddress"] = map[string]any{"network": "Bitcoin", "address": "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"}
		},
		want: []FieldError{{"/assets/2", "needs exactly one of bankAccount and virtualAssetAddress"}},
	}, {
		name:   "no assets",
		typ:    AssetFreezing,
		mutate: func(doc map[string]any) { doc["assets"] = []any{} },
		want:   []FieldError{{"/assets", "must have at least one item"}},
	}, {
		name: "asset-freezing order without expiry",
		typ:  AssetFreezing,
		mutate: func(doc map[string]any) {
			delete(at(doc, "order"), "expiry")
		},
		want: []FieldError{{"/order/expiry", "is required: an asset-freezing request must say when its freezing order ends"}},
	}, {
		name: "asset-freezing order expired",
		typ:  AssetFreezing,
		mutate: func(doc map[string]any) {
			at(doc, "order")["expiry"] = "2026-11-29T12:59:59+01:00"
		},
		want: []FieldError{{"/order/expiry", "has passed: the order must still be in force when the request is received"}},
	}, {
		name: "asset-freezing order ending exactly now, written in lower case",
		typ:  AssetFreezing,
		mutate: func(doc map[string]any) {
			at(doc, "order")["expiry"] = "2026-11-29t12:00:00z"
		},
		want: []FieldError{{"/order/expiry", "has passed: the order must still be in force when the request is received"}},
	}, {
		name: "asset-freezing order expiry that is not a date-time",
		typ:  AssetFreezing,
		mutate: func(doc map[string]any) {
			at(doc, "order")["expiry"] = "2027-05-28"
		},
		want: []FieldError{{"/order/expiry", "must be an RFC 3339 date-time with a time zone offset, e.g. 2026-11-22T09:30:00Z"}},
	}, {
		name: "asset-tracing order expired",
		typ:  AssetTracing,
		mutate: func(doc map[string]any) {
			at(doc, "order")["expiry"] = "2016-12-31T23:59:60Z"
		},
		want: []FieldError{{"/order/expiry", "has passed: the order must still be in force when the request is received"}},
	}, {
		name: "order authority of an unknown kind, urgency without reason",
		typ:  AssetTracing,
		mutate: func(doc map[string]any) {
			at(doc, "order", "authority")["type"] = "Ministry"
			doc["urgency"] = "Emergency"
			delete(doc, "urgencyReason")
		},
		want: []FieldError{
			{"/order/authority/type", "must be one of Court, Prosecutor, Police, CentralAuthority, Other"},
			{"/urgencyReason", "is required when urgency is Urgent or Emergency"},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := exampleDoc(t, c.typ)
			c.mutate(doc)
			req, fields, err := Parse(marshal(t, doc), testNow)
			if err != nil || req != nil {
				t.Fatalf("Parse accepted: %v, error: %v; want field errors", req != nil, err)
			}
			if !reflect.DeepEqual(fields, c.want) {
				t.Errorf("field errors:\n%s\nwant:\n%s", lines(fields), lines(c.want))
			}
		})
	}
}

// A tracing order need not end; when it has no expiry the request is
// accepted and carries none.
func TestAssetTracingOrderWithoutExpiry(t *testing.T) {
	doc := exampleDoc(t, AssetTracing)
	delete(at(doc, "order"), "expiry")
	req, fields, err := Parse(marshal(t, doc), testNow)
	if req == nil || err != nil {
		t.Fatalf("Parse = %v, %v, %v; want a request", req, lines(fields), err)
	}
	if req.OrderReference != "JI-2026/1187/CR-09" || !req.OrderExpiry.IsZero() {
		t.Errorf("order = %q %v, want JI-2026/1187/CR-09 and no expiry", req.OrderReference, req.OrderExpiry)
	}
}

// An order that is in force when sent and has ended when received is refused:
// Parse judges at now, not at the request's date.
func TestAssetFreezingOrderJudgedAtReceipt(t *testing.T) {
	body := readExample(t, AssetFreezing)
	expiry := time.Date(2027, 5, 28, 21, 59, 59, 0, time.UTC)
	if req, fields, _ := Parse(body, expiry.Add(-time.Second)); req == nil || !req.OrderExpiry.Equal(expiry) {
		t.Fatalf("refused a second before the order ends: %s", lines(fields))
	}
	if req, _, _ := Parse(body, expiry); req != nil {
		t.Fatal("accepted when the order ends")
	}
}

// Field errors about assets and content never repeat the submitted values,
// which here are account numbers, addresses and the locations of material.
func TestNewTypesNeverEchoSubmittedValues(t *testing.T) {
	const secret = "Zq7Kx9SECRETvalue"
	cases := map[Type]func(doc map[string]any){
		ContentRemoval: func(doc map[string]any) {
			locator(doc, 0)["url"] = "data:" + secret
			locator(doc, 1)["url"] = "https://x.example/" + strings.Repeat(secret, 20)
			hash(doc, 0)["value"] = secret
			doc["factsSummary"] = strings.Repeat(secret, 10)
			doc[secret] = secret
		},
		AssetTracing: func(doc map[string]any) {
			asset(doc, 0, "virtualAssetAddress")["address"] = secret
			asset(doc, 1, "virtualAssetAddress")["amount"] = map[string]any{"value": secret, "ticker": secret}
			asset(doc, 2, "bankAccount")["accountNumber"] = secret + "!"
			at(doc, "order")["expiry"] = secret
		},
		AssetFreezing: func(doc map[string]any) {
			asset(doc, 3, "bankAccount")["iban"] = secret
			asset(doc, 2, "bankAccount")["bic"] = secret
			asset(doc, 1, "virtualAssetAddress")["network"] = secret
			at(doc, "order")["expiry"] = "2026-13-45T" + secret
		},
	}
	for typ, mutate := range cases {
		t.Run(string(typ), func(t *testing.T) {
			doc := exampleDoc(t, typ)
			mutate(doc)
			req, fields, err := Parse(marshal(t, doc), testNow)
			if req != nil || err != nil || len(fields) == 0 {
				t.Fatalf("Parse = %v, %v, %v; want field errors", req, fields, err)
			}
			for _, f := range fields {
				if strings.Contains(f.Message, secret) || (strings.Contains(f.Path, secret) && f.Path != "/"+secret) {
					t.Errorf("field error repeats the submitted value: %s", f)
				}
			}
		})
	}
}
