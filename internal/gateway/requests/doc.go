// Package requests defines the requests States send each other through the
// gateway (the 24/7 point of contact's intake service): their types, one
// versioned JSON Schema per type, the gateway's OpenAPI document, and Parse,
// which turns a request body into a validated, canonical request.
//
// The schemas are the single source of truth. They are the files
// schemas/v1/<kebab-name>.schema.json (JSON Schema draft 2020-12), one per
// Type, plus schemas/v1/common.schema.json, whose $defs (requesting
// authority, period, authorisation, custodian, offence, identifiers, orders,
// assets, amounts…) the type schemas reference. The files are embedded in the binary; Parse validates
// with github.com/santhosh-tekuri/jsonschema/v6 compiled from them (format
// assertions on, $ref resolved only among the embedded files, never from the
// network), OpenAPI embeds them, and GET /v1/schemas/{name} serves them.
// Every $id is SchemaBaseURL followed by the file name.
//
// A document is canonicalised with RFC 8785 (JSON Canonicalization Scheme);
// its SHA-256 digest is what receipts sign. Parse refuses what would make
// the validated document and the canonical one differ: repeated member names,
// numbers that double precision cannot hold, unpaired surrogates.
//
// Field errors name the bad field with a JSON Pointer and say what is
// expected; they never repeat a submitted value, because requests carry
// personal data. A schema may word a message itself with the annotation
// "x-messages": {"<keyword>": "<message>"} beside the keyword it explains.
//
// Adding a request type is an addition, not a rewrite:
//  1. add a constant of type Type with a doc comment, and append it to Types
//     (and to Intrusive if the measure needs an authorisation, to restsOnOrder
//     if the request gives effect to a domestic order in its "order" field);
//  2. add schemas/v1/<kebab-name>.schema.json (kebab-name from the constant:
//     AssetFreezing is asset-freezing), with "$id" SchemaBaseURL+file name,
//     the common envelope properties referencing common.schema.json exactly as
//     the other types do, "additionalProperties": false, and a description,
//     maxLength or maxItems wherever the tests ask for them;
//  3. add testdata/valid/<Type>.json, a realistic example: the tests parse it
//     and the OpenAPI document shows it.
//
// Changing the meaning of an existing field is not an addition: that needs
// schemas/v2.
package requests
