# Writes json-schemas.json: the JSON schemas of kiln.grammar.JsonSchemaGrammarTest with hand-written valid documents
# and invalid ones ([valid prefix, rest from the first wrong character, "order" when only the property order is wrong]).
# Run: python3 testdata/grammar/make_json_schemas.py
import json
S = []
def add(name, source, schema, valid=(), invalid=()):
    S.append({"name": name, "source": source, "schema": schema, "valid": list(valid), "invalid": [list(x) for x in invalid]})

obj = lambda props, req=None, extra=False: dict({"type": "object", "properties": props, "required": list(props) if req is None else req, "additionalProperties": extra})
s = {"type": "string"}; i = {"type": "integer"}; n = {"type": "number"}; b = {"type": "boolean"}

add("openai-math-reasoning", "OpenAI structured outputs guide: chain of thought",
    obj({"steps": {"type": "array", "items": obj({"explanation": s, "output": s})}, "final_answer": s}),
    ['{"steps": [{"explanation": "Subtract 7 from both sides.", "output": "8x = -30"}, {"explanation": "Divide by 8.", "output": "x = -3.75"}], "final_answer": "x = -3.75"}',
     '{"steps":[],"final_answer":""}',
     '{\n  "steps": [\n    {\n      "explanation": "a",\n      "output": "b"\n    }\n  ],\n  "final_answer": "c"\n}'],
    [['{"steps": [{"explanation": "x", "', 'final_answer": "y"}]}'],
     ['{"steps": [], "', 'answer": "y"}'],
     ['{"steps": [], "final_answer": "y"', ''],
     ['{"steps": [], "final_answer": "y"}', ' ']])
add("openai-ui-recursive", "OpenAI structured outputs guide: UI generation ($ref '#')",
    obj({"type": {"type": "string", "description": "The type of the UI component", "enum": ["div", "button", "header", "section", "field", "form"]},
         "label": {"type": "string", "description": "The label of the UI component"},
         "children": {"type": "array", "description": "Nested UI components", "items": {"$ref": "#"}},
         "attributes": {"type": "array", "items": obj({"name": s, "value": s})}}),
    ['{"type": "form", "label": "Sign up", "children": [{"type": "field", "label": "Email", "children": [], "attributes": [{"name": "type", "value": "email"}]}, {"type": "button", "label": "Go", "children": [], "attributes": []}], "attributes": []}'],
    [['{"type": "', 'span", "label": "x", "children": [], "attributes": []}'],
     ['{"type": "div", "label": "x", "children": [{"type": "div", "label": "y", "children": [], "attributes": []}, ', '3], "attributes": []}']])
add("openai-moderation", "OpenAI structured outputs guide: moderation",
    obj({"is_violating": {"type": "boolean", "description": "Indicates if the content is violating guidelines"},
         "category": {"type": ["string", "null"], "description": "Type of violation", "enum": ["violence", "sexual", "self_harm"]},
         "explanation_if_violating": {"type": ["string", "null"]}}),
    ['{"is_violating": false, "category": "violence", "explanation_if_violating": null}',
     '{"is_violating":true,"category":"self_harm","explanation_if_violating":"The text describes ..."}'],
    [['{"is_violating": ', 'maybe, "category": null, "explanation_if_violating": null}'],
     ['{"is_violating": true, "category": ', 'null, "explanation_if_violating": null}']])
add("openai-linked-list-defs", "OpenAI structured outputs guide: recursive $defs (linked list)",
    {"type": "object", "properties": {"linked_list": {"$ref": "#/$defs/linked_list_node"}},
     "$defs": {"linked_list_node": {"type": "object", "properties": {"value": {"type": "number"}, "next": {"anyOf": [{"$ref": "#/$defs/linked_list_node"}, {"type": "null"}]}},
                                    "additionalProperties": False, "required": ["next", "value"]}},
     "additionalProperties": False, "required": ["linked_list"]},
    ['{"linked_list": {"value": 1, "next": {"value": 2.5, "next": {"value": -3e2, "next": null}}}}'],
    [['{"linked_list": {"value": 1, "next": {"value": 2, "next": ', '[]}}}'],
     ['{"linked_list": {"', 'next": null, "value": 1}}', 'order']])
add("openai-research-paper", "OpenAI structured outputs guide: structured data extraction",
    obj({"title": s, "authors": {"type": "array", "items": s}, "abstract": s, "keywords": {"type": "array", "items": s}}),
    ['{"title": "Attention Is All You Need", "authors": ["Ashish Vaswani", "Noam Shazeer"], "abstract": "The dominant sequence transduction models ...", "keywords": ["transformer", "attention"]}'])
add("openai-weather-function", "OpenAI function calling guide: get_weather (strict)",
    obj({"location": {"type": "string", "description": "City and country e.g. Bogotá, Colombia"},
         "units": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit"], "description": "Units the temperature will be returned in."}}),
    ['{"location": "Bogotá, Colombia", "units": "celsius"}', '{"location":"Paris, France","units":"fahrenheit"}'],
    [['{"location": "Paris", "units": "', 'kelvin"}'], ['{"location": "Paris", "units": "celsius"', ', "extra": 1}']])
add("openai-calendar-event", "OpenAI structured outputs guide: getting a structured response",
    obj({"name": s, "date": s, "participants": {"type": "array", "items": s}}),
    ['{"name": "Science fair", "date": "Friday", "participants": ["Alice", "Bob"]}'])
add("openai-definitions-steps", "OpenAI structured outputs guide: definitions",
    {"type": "object", "properties": {"steps": {"type": "array", "items": {"$ref": "#/$defs/step"}}, "final_answer": {"type": "string"}},
     "$defs": {"step": obj({"explanation": s, "output": s})}, "required": ["steps", "final_answer"], "additionalProperties": False},
    ['{"steps": [{"explanation": "e", "output": "o"}], "final_answer": "f"}'])
add("function-search-flights", "function calling: flight search",
    obj({"origin": {"type": "string", "pattern": "^[A-Z]{3}$"}, "destination": {"type": "string", "pattern": "^[A-Z]{3}$"},
         "date": {"type": "string", "format": "date"}, "passengers": {"type": "integer", "minimum": 1, "maximum": 9},
         "cabin": {"type": "string", "enum": ["economy", "premium_economy", "business", "first"]}}),
    ['{"origin": "CDG", "destination": "JFK", "date": "2026-12-24", "passengers": 2, "cabin": "economy"}',
     '{"origin": "LHR", "destination": "SFO", "date": "2024-02-29", "passengers": 9, "cabin": "first"}'],
    [['{"origin": "CD', 'gX", "destination": "JFK", "date": "2026-12-24", "passengers": 2, "cabin": "economy"}'],
     ['{"origin": "CDG", "destination": "JFK", "date": "2023-02-2', '9", "passengers": 2, "cabin": "economy"}'],
     ['{"origin": "CDG", "destination": "JFK", "date": "2026-12-24", "passengers": 1', '0, "cabin": "economy"}'],
     ['{"origin": "CDG", "destination": "JFK", "date": "2026-12-24", "passengers": ', '0, "cabin": "economy"}']])
add("function-send-email", "function calling: send an email",
    obj({"to": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 1, "maxItems": 5},
         "subject": {"type": "string", "maxLength": 40}, "body": s, "cc": {"type": "array", "items": {"type": "string", "format": "email"}}},
        req=["to", "subject", "body"]),
    ['{"to": ["ada@example.com", "grace.hopper@navy.mil"], "subject": "Meeting", "body": "See you at 5."}',
     '{"to": ["a@b.co"], "subject": "", "body": "", "cc": []}'],
    [['{"to": [', '], "subject": "x", "body": "y"}'], ['{"to": ["a', ' b@example.com"], "subject": "x", "body": "y"}']])
add("function-create-event", "function calling: calendar event with attendees",
    obj({"title": s, "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
         "attendees": {"type": "array", "items": obj({"name": s, "email": {"type": "string", "format": "email"}, "optional": b}, req=["name", "email"])},
         "location": s}, req=["title", "start", "end", "attendees"]),
    ['{"title": "Standup", "start": "2026-12-07T09:00:00Z", "end": "2026-12-07T09:15:00+01:00", "attendees": [{"name": "Ana", "email": "ana@example.org", "optional": true}]}'],
    [['{"title": "x", "start": "2026-12-07T2', '5:00:00Z", "end": "2026-12-07T09:15:00Z", "attendees": []}']])
add("tool-calls-array", "function calling: several tool calls at once",
    {"type": "array", "minItems": 1, "maxItems": 3, "items": {"anyOf": [
        obj({"name": {"const": "get_weather"}, "arguments": obj({"city": s, "unit": {"enum": ["c", "f"]}})}),
        obj({"name": {"const": "get_time"}, "arguments": obj({"timezone": {"type": "string", "pattern": "^[A-Z][a-z]+/[A-Z][a-z_]+$"}})})]}},
    ['[{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "c"}}, {"name": "get_time", "arguments": {"timezone": "Europe/Oslo"}}]'],
    [['[', ']'], ['[{"name": "get_weather", "arguments": {"', 'timezone": "Europe/Oslo"}}]']])
add("nested-company", "three levels of nested objects and arrays, uuid and bounded numbers",
    obj({"company": s, "departments": {"type": "array", "items": obj({"name": s, "employees": {"type": "array", "maxItems": 4, "items": obj({
        "id": {"type": "string", "format": "uuid"}, "name": s, "salary": {"type": "number", "minimum": 0}, "manager": b})}})}}),
    ['{"company": "Acme", "departments": [{"name": "R&D", "employees": [{"id": "123e4567-e89b-12d3-a456-426614174000", "name": "Wile", "salary": 1e3, "manager": false}]}]}'.replace("1e3", "1000.50")],
    [['{"company": "Acme", "departments": [{"name": "R&D", "employees": [{"id": "123e4567-e89b-12d3-a456-426614174000", "name": "Wile", "salary": ', '-1, "manager": false}]}]}']])
add("deeply-nested", "five levels of nested objects",
    obj({"a": obj({"b": obj({"c": obj({"d": obj({"e": {"type": "integer"}, "f": {"type": "array", "items": {"type": "boolean"}}})})})})}),
    ['{"a": {"b": {"c": {"d": {"e": 1, "f": [true, false]}}}}}'],
    [['{"a": {"b": {"c": {"d": {"e": 1, "f": [true, false]}}}}', '}}']])
add("array-of-enums", "arrays of enums with item counts",
    obj({"colors": {"type": "array", "items": {"type": "string", "enum": ["red", "green", "blue"]}, "minItems": 2, "maxItems": 4},
         "sizes": {"type": "array", "items": {"enum": ["S", "M", "L", "XL"]}}}),
    ['{"colors": ["red", "blue"], "sizes": []}', '{"colors": ["red", "red", "green", "blue"], "sizes": ["XL", "S"]}'],
    [['{"colors": ["red"', '], "sizes": []}'], ['{"colors": ["red", "red", "green", "blue"', ', "red"], "sizes": []}'],
     ['{"colors": ["red", "gr', 'ay"], "sizes": []}']])
add("tuple-prefix-items", "2020-12 prefixItems (tuple) with no more items",
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}], "items": False, "minItems": 2},
    ['["a", 1, true]', '["a", 1]'], [['["a"', ']'], ['["a", 1, true', ', 2]'], ['["a", ', '"b"]']])
add("tuple-draft7", "draft-07 items array with additionalItems and definitions",
    {"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"point": {"type": "array", "items": [{"type": "number"}, {"type": "number"}], "additionalItems": False, "minItems": 2}},
     "type": "object", "properties": {"path": {"type": "array", "items": {"$ref": "#/definitions/point"}, "maxItems": 3}}, "required": ["path"], "additionalProperties": False},
    ['{"path": [[0, 0], [1.5, -2]]}'], [['{"path": [[0, 0', ', 1]]}']])
add("number-bounds", "number and integer bounds, exclusive and fractional",
    obj({"temperature": {"type": "number", "minimum": -50.5, "maximum": 60.25}, "probability": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
         "count": {"type": "integer", "minimum": -10, "maximum": 10}, "score": {"type": "number", "minimum": 0.125}}),
    ['{"temperature": -50.5, "probability": 0.999, "count": -10, "score": 0.125}', '{"temperature": 60.25, "probability": 1e-3, "count": 10, "score": 7}'.replace("1e-3", "0.001")],
    [['{"temperature": 60.2', '6, "probability": 0.5, "count": 0, "score": 1}'], ['{"temperature": 0, "probability": ', '1, "count": 0, "score": 1}'],
     ['{"temperature": 0, "probability": 0.5, "count": 1', '1, "score": 1}'], ['{"temperature": 0, "probability": 0.5, "count": 0, "score": 0.12', '4}'],
     ['{"temperature": 0, "probability": 0', ', "count": 0, "score": 1}']])
add("integer-ranges", "wide integer ranges, one-sided and exclusive",
    obj({"year": {"type": "integer", "minimum": 1900, "maximum": 2100}, "offset": {"type": "integer", "exclusiveMinimum": -1000},
         "negative": {"type": "integer", "maximum": -1}, "big": {"type": "integer", "minimum": 1000000}}),
    ['{"year": 1999, "offset": -999, "negative": -1, "big": 1000000}'],
    [['{"year": 18', '99, "offset": 0, "negative": -1, "big": 1000000}'], ['{"year": 2000, "offset": 0, "negative": ', '0, "big": 1000000}']])
add("string-lengths", "minLength and maxLength",
    obj({"code": {"type": "string", "minLength": 3, "maxLength": 8}, "note": {"type": "string", "maxLength": 20}, "name": {"type": "string", "minLength": 2}}),
    ['{"code": "abc", "note": "", "name": "Jo"}', '{"code": "日本語テキスト", "note": "a\\"b", "name": "\\u00e9\\n"}'.replace('\\u00e9', 'é')],
    [['{"code": "ab', '", "note": "", "name": "Jo"}'], ['{"code": "abcdefgh', 'i", "note": "", "name": "Jo"}']])
add("string-patterns", "regular expression patterns",
    obj({"zip": {"type": "string", "pattern": "^[0-9]{5}(-[0-9]{4})?$"}, "phone": {"type": "string", "pattern": "^\\+?[0-9]{10,12}$"},
         "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"}, "slug": {"type": "string", "pattern": "^[a-z0-9]+(?:-[a-z0-9]+)*$"}}),
    ['{"zip": "75001", "phone": "+4915112345678"[:15], "sku": "ABC-1234", "slug": "hello-world-2"}'.replace('"+4915112345678"[:15]', '"+491511234567"'),
     '{"zip": "12345-6789", "phone": "0123456789", "sku": "XYZ-0000", "slug": "a"}'],
    [['{"zip": "1234', 'a", "phone": "0123456789", "sku": "XYZ-0000", "slug": "a"}'], ['{"zip": "12345", "phone": "0123456789", "sku": "XYZ-0000", "slug": "a-', '-b"}']])
add("string-formats", "string formats: ipv4, ipv6, uuid, date, time, date-time, email, hostname, uri",
    obj({f.replace("-", "_"): {"type": "string", "format": f} for f in ["ipv4", "ipv6", "uuid", "date", "time", "date-time", "email", "hostname", "uri"]}),
    ['{"ipv4": "192.168.0.1", "ipv6": "2001:db8::8a2e:370:7334", "uuid": "550e8400-e29b-41d4-a716-446655440000", "date": "2000-02-29", "time": "23:59:59.5+02:00", "date_time": "2026-12-07T04:50:32Z", "email": "x@kiln.dev", "hostname": "api.example.com", "uri": "https://example.com/a?b=c"}'],
    [['{"ipv4": "25', '6.1.1.1", "ipv6": "::", "uuid": "550e8400-e29b-41d4-a716-446655440000", "date": "2000-02-29", "time": "00:00:00Z", "date_time": "2026-12-07T04:50:32Z", "email": "x@kiln.dev", "hostname": "a", "uri": "a:b"}'],
     ['{"ipv4": "1.1.1.1", "ipv6": "::", "uuid": "550e8400-e29b-41d4-a716-446655440000", "date": "1900-02-2', '9", "time": "00:00:00Z", "date_time": "2026-12-07T04:50:32Z", "email": "x@kiln.dev", "hostname": "a", "uri": "a:b"}']])
add("const-values", "const of several types",
    obj({"version": {"const": "1.0"}, "kind": {"const": 3}, "flag": {"const": True}, "meta": {"const": {"a": [1, None]}}}),
    ['{"version": "1.0", "kind": 3, "flag": true, "meta": {"a":[1,null]}}'], [['{"version": "1.', '1", "kind": 3, "flag": true, "meta": {"a":[1,null]}}']])
add("enum-mixed", "enum of values of different types", {"enum": [1, "two", None, True, {"a": 1}, [1, 2], 2.5]},
    ['1', '"two"', 'null', 'true', '{"a":1}', '[1,2]', '2.5'], [['', '3'], ['{"a":1}', ']']])
add("anyof-primitives", "anyOf of primitive types", {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]},
    ['"hello"', '-12.5e3', 'null'], [['', 'true']])
add("anyof-shapes", "anyOf of objects discriminated by a const",
    obj({"shape": {"anyOf": [obj({"kind": {"const": "circle"}, "radius": {"type": "number", "minimum": 0}}),
                             obj({"kind": {"const": "rect"}, "width": n, "height": n})]}}),
    ['{"shape": {"kind": "circle", "radius": 2}}', '{"shape": {"kind": "rect", "width": 1, "height": 2}}'],
    [['{"shape": {"kind": "circle", "', 'width": 1}}']])
add("oneof-disjoint", "oneOf whose alternatives cannot both match (taken as anyOf)",
    {"oneOf": [obj({"type": {"const": "user"}, "id": i}), obj({"type": {"const": "group"}, "members": {"type": "array", "items": i}})]},
    ['{"type": "group", "members": [1, 2]}'])
add("type-array-nullable", "type as an array, a single-type array",
    obj({"a": {"type": ["string", "null"]}, "b": {"type": ["integer", "boolean"]}, "c": {"type": ["null"]}}),
    ['{"a": null, "b": false, "c": null}', '{"a": "x", "b": 3, "c": null}'])
add("optional-properties", "optional properties between required ones",
    obj({"a": s, "b": i, "c": b, "d": n}, req=["b", "d"]),
    ['{"b": 1, "d": 2}', '{"a": "x", "b": 1, "c": true, "d": 2}', '{"b": 1, "c": false, "d": 2}'],
    [['{"', 'd": 2, "b": 1}', 'order'], ['{"b": 1', '}']])
add("all-optional", "every property optional",
    {"type": "object", "properties": {"x": i, "y": i, "z": i}, "additionalProperties": False},
    ['{}', '{"y": 2}', '{"x": 1, "z": 3}'], [['{"y": 2, "', 'x": 1}', 'order']])
add("additional-true", "declared properties plus any others",
    {"type": "object", "properties": {"id": i}, "required": ["id"], "additionalProperties": True},
    ['{"id": 1, "anything": [1, {"b": null}], "more": "x"}'])
add("additional-schema", "a map: no declared properties, integer values", {"type": "object", "additionalProperties": {"type": "integer"}},
    ['{}', '{"a": 1, "b": -2}'], [['{"a": ', '"x"}']])
add("any-value", "the empty schema: any JSON value", {}, ['{"a": [1, 2.5, "x", null, true, {}]}', '"s"', '[]'])
add("any-object", "type object alone: any object", {"type": "object"}, ['{"k": {"nested": [1]}}', '{}'], [['', '[]']])
add("matrix", "arrays of arrays", obj({"m": {"type": "array", "items": {"type": "array", "items": n, "minItems": 1, "maxItems": 3}, "maxItems": 3}}),
    ['{"m": [[1, 2], [3]]}'], [['{"m": [[', ']]}']])
add("recursive-tree", "recursive $defs: a tree", {"$ref": "#/$defs/node", "$defs": {"node": obj({"value": i, "children": {"type": "array", "maxItems": 3, "items": {"$ref": "#/$defs/node"}}})}},
    ['{"value": 1, "children": [{"value": 2, "children": []}, {"value": 3, "children": [{"value": 4, "children": []}]}]}'])
add("mutual-recursion", "mutually recursive $defs: expressions",
    {"$ref": "#/$defs/expr", "$defs": {"expr": {"anyOf": [{"type": "number"}, {"$ref": "#/$defs/call"}]},
                                     "call": obj({"op": {"enum": ["add", "mul", "neg"]}, "args": {"type": "array", "items": {"$ref": "#/$defs/expr"}, "minItems": 1, "maxItems": 2}})}},
    ['{"op": "add", "args": [1, {"op": "neg", "args": [2]}]}', '7'])
add("unicode-keys", "non-ASCII keys and enum values",
    obj({"名前": s, "city": {"enum": ["Zürich", "München", "東京"]}, "emoji": {"type": "string", "maxLength": 3}}),
    ['{"名前": "太郎", "city": "東京", "emoji": "🙂🙂"}'], [['{"名前": "太郎", "city": "Zu', 'rich", "emoji": ""}']])
add("escaped-keys", "keys that JSON must escape",
    obj({"quote\"key": s, "back\\slash": i, "tab\tkey": b}), ['{"quote\\"key": "v", "back\\\\slash": 1, "tab\\tkey": true}'])
add("pattern-escapes", "a pattern over characters JSON escapes",
    obj({"s": {"type": "string", "pattern": "^[a-z\"\\\\]{1,6}$"}, "t": {"type": "string", "pattern": "^line\\nbreak$"}}),
    ['{"s": "a\\"b\\\\", "t": "line\\nbreak"}'], [['{"s": "a', '\\n", "t": "line\\nbreak"}']])
add("boolean-subschema", "true and false as sub-schemas",
    {"type": "object", "properties": {"anything": True, "n": i}, "required": ["anything", "n"], "additionalProperties": False},
    ['{"anything": [1, "x"], "n": 0}'])
add("pydantic-style", "what pydantic emits: titles, allOf of one $ref, anyOf with null, defaults",
    {"title": "Order", "type": "object", "$defs": {"Item": {"title": "Item", "type": "object", "properties": {"sku": {"title": "Sku", "type": "string"}, "qty": {"title": "Qty", "type": "integer", "minimum": 1}}, "required": ["sku", "qty"]},
                                                 "Status": {"title": "Status", "enum": ["open", "paid", "shipped"], "type": "string"}},
     "properties": {"id": {"title": "Id", "type": "integer"}, "items": {"title": "Items", "type": "array", "items": {"$ref": "#/$defs/Item"}},
                    "status": {"allOf": [{"$ref": "#/$defs/Status"}], "default": "open"}, "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Note"}},
     "required": ["id", "items"]},
    ['{"id": 7, "items": [{"sku": "A1", "qty": 2}], "status": "paid", "note": null}', '{"id": 7, "items": []}'])
add("country-enum", "a large enum", obj({"country": {"enum": ["Afghanistan", "Albania", "Algeria", "Andorra", "Angola", "Argentina", "Armenia", "Australia", "Austria", "Azerbaijan",
    "Bahamas", "Bahrain", "Bangladesh", "Barbados", "Belarus", "Belgium", "Belize", "Benin", "Bhutan", "Bolivia", "Brazil", "Bulgaria", "Cambodia", "Cameroon", "Canada",
    "Chile", "China", "Colombia", "Croatia", "Cuba", "Cyprus", "Denmark", "Ecuador", "Egypt", "Estonia", "Ethiopia", "Finland", "France", "Germany", "Ghana", "Greece",
    "Hungary", "Iceland", "India", "Indonesia", "Iran", "Ireland", "Israel", "Italy", "Japan", "Kenya", "Korea", "Latvia", "Mexico", "Morocco", "Nepal", "Netherlands",
    "Norway", "Peru", "Poland", "Portugal", "Romania", "Spain", "Sweden", "Switzerland", "Thailand", "Turkey", "Ukraine", "Uruguay", "Vietnam"]}}),
    ['{"country": "Switzerland"}'], [['{"country": "Sweden', '2"}']])
add("tuple-then-items", "prefixItems followed by homogeneous items and minItems",
    {"type": "array", "prefixItems": [{"const": "header"}], "items": {"type": "integer", "minimum": 0, "maximum": 255}, "minItems": 3, "maxItems": 5},
    ['["header", 0, 255]', '["header", 1, 2, 3, 4]'], [['["header", 1', ']'], ['["header", 1, 2, 3, 4', ', 5]']])
add("sglang-example", "SGLang's structured output test schema",
    {"type": "object", "properties": {"name": {"type": "string", "pattern": "^[\\w]+$"}, "population": {"type": "integer"}}, "required": ["name", "population"]},
    ['{"name": "Paris", "population": 2165423}'], [['{"name": "New', ' York", "population": 1}']])
add("plain-numbers", "unbounded numbers with exponents, and integers", obj({"x": n, "y": i, "z": {"type": "number", "multipleOf": 1}}),
    ['{"x": -0.5e-10, "y": -0, "z": 12}', '{"x": 1E+2, "y": 0, "z": 0}'], [['{"x": 0', '1, "y": 0, "z": 0}'], ['{"x": 1, "y": 0, "z": 1', '.5}']])
add("min-length-only", "minLength without maxLength", obj({"password": {"type": "string", "minLength": 5}}), ['{"password": "hunter2"}'], [['{"password": "abcd', '"}']])
add("type-beside-anyof", "a type beside anyOf applies to the alternatives; enum values of another type are left out",
    obj({"code": {"type": "string", "anyOf": [{"maxLength": 3}, {"pattern": "^x+$"}]}, "level": {"type": "string", "enum": ["low", 1, "high", None]}}),
    ['{"code": "ab", "level": "low"}', '{"code": "xxxxx", "level": "high"}'],
    [['{"code": "abc', 'd", "level": "low"}'], ['{"code": "ab", "level": ', '1}']])
add("long-length-bounds", "strings with long length bounds (hundreds of counted states)",
    obj({"title": {"type": "string", "minLength": 5, "maxLength": 120}, "summary": {"type": "string", "maxLength": 300}}),
    ['{"title": "Kiln", "summary": ""}'.replace('"Kiln"', '"Kiln: a serving engine"'), '{"title": "' + "x" * 120 + '", "summary": "' + "y" * 300 + '"}'],
    [['{"title": "' + "x" * 120, 'x", "summary": ""}'], ['{"title": "abcd', '", "summary": ""}']])
add("many-optional", "25 properties, most optional, two required in the middle, extra keys allowed",
    {"type": "object", "properties": {"p%d" % k: ({"type": "integer"} if k % 3 else {"type": "string", "maxLength": 10}) for k in range(25)},
     "required": ["p7", "p15"], "additionalProperties": {"type": "boolean"}},
    ['{"p7": 1, "p15": "x"}', '{"p0": "a", "p7": 2, "p8": 3, "p15": "", "p24": "z", "more": true}'],
    [['{"p7": 1, "p', '3": 1, "p15": ""}', 'order'], ['{"p1', '5": ""}']])
add("string-or-array", "a string or an array of strings (common in tool arguments)",
    obj({"query": {"anyOf": [s, {"type": "array", "items": s, "minItems": 1}]}, "limit": {"type": "integer", "minimum": 1, "maximum": 100}}, req=["query"]),
    ['{"query": ["a", "b"], "limit": 100}', '{"query": "x"}'], [['{"query": "x", "limit": 10', '1}']])

json.dump(S, open(__import__('os').path.join(__import__('os').path.dirname(__file__), 'json-schemas.json'), 'w'), ensure_ascii=False, indent=1)
print(len(S))

# The documents MaskBenchmark replays token by token: one realistic output per schema (what a model answers), by
# the schema's name in json-schemas.json ("json_object" is the any-object response format).
BENCH = [
 ("openai-weather-function", '{"location": "Bogotá, Colombia", "units": "celsius"}'),
 ("function-search-flights", '{"origin": "CDG", "destination": "JFK", "date": "2026-12-24", "passengers": 2, "cabin": "premium_economy"}'),
 ("openai-math-reasoning", json.dumps({"steps": [
     {"explanation": "Start with the equation 8x + 7 = -23 and subtract 7 from both sides to isolate the term with x.", "output": "8x = -30"},
     {"explanation": "Divide both sides by 8 to solve for x.", "output": "x = -30 / 8"},
     {"explanation": "Simplify the fraction by dividing numerator and denominator by 2.", "output": "x = -15 / 4"},
     {"explanation": "Write the result as a decimal to check it: -15 / 4 = -3.75, and 8 * -3.75 + 7 = -23.", "output": "x = -3.75"}],
     "final_answer": "x = -15/4 = -3.75"}, ensure_ascii=False, indent=2)),
 ("openai-ui-recursive", json.dumps({"type": "form", "label": "Create your account", "children": [
     {"type": "field", "label": "Full name", "children": [], "attributes": [{"name": "type", "value": "text"}, {"name": "required", "value": "true"}]},
     {"type": "field", "label": "Email address", "children": [], "attributes": [{"name": "type", "value": "email"}, {"name": "placeholder", "value": "you@example.com"}]},
     {"type": "section", "label": "Preferences", "children": [
         {"type": "field", "label": "Newsletter", "children": [], "attributes": [{"name": "type", "value": "checkbox"}]}], "attributes": []},
     {"type": "button", "label": "Sign up", "children": [], "attributes": [{"name": "variant", "value": "primary"}]}],
     "attributes": [{"name": "method", "value": "post"}, {"name": "action", "value": "/signup"}]}, ensure_ascii=False)),
 ("nested-company", json.dumps({"company": "Acme Robotics", "departments": [
     {"name": "Research", "employees": [
         {"id": "3f2b8c1e-9a4d-4e7b-8c21-5d6f7a8b9c0d", "name": "Ada Lovelace", "salary": 185000.5, "manager": True},
         {"id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "name": "Alan Turing", "salary": 172500, "manager": False}]},
     {"name": "Operations", "employees": [
         {"id": "0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c", "name": "Grace Hopper", "salary": 164000, "manager": True}]}]}, ensure_ascii=False, indent=2)),
 ("tool-calls-array", json.dumps([{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "c"}},
     {"name": "get_time", "arguments": {"timezone": "Europe/Oslo"}}, {"name": "get_weather", "arguments": {"city": "Kyoto", "unit": "c"}}])),
 ("array-of-enums", '{"colors": ["red", "green", "blue", "red"], "sizes": ["S", "M", "L", "XL", "M"]}'),
 ("openai-research-paper", json.dumps({"title": "Efficient Memory Management for Large Language Model Serving with PagedAttention",
     "authors": ["Woosuk Kwon", "Zhuohan Li", "Siyuan Zhuang", "Ying Sheng", "Lianmin Zheng", "Cody Hao Yu", "Joseph E. Gonzalez", "Hao Zhang", "Ion Stoica"],
     "abstract": "High throughput serving of large language models (LLMs) requires batching sufficiently many requests at a time. However, existing systems struggle because the key-value cache (KV cache) memory for each request is huge and grows and shrinks dynamically. When managed inefficiently, this memory can be significantly wasted by fragmentation and redundant duplication, limiting the batch size. To address this problem, we propose PagedAttention, an attention algorithm inspired by the classical virtual memory and paging techniques in operating systems.",
     "keywords": ["LLM serving", "KV cache", "PagedAttention", "memory management", "throughput"]}, ensure_ascii=False)),
 ("json_object", json.dumps({"answer": "Paris", "confidence": 0.97, "sources": [{"title": "Paris - Wikipedia", "year": 2024}], "follow_up": None, "tags": ["geography", "capitals"]}, ensure_ascii=False)),
]
json.dump([{"name": n, "document": d} for n, d in BENCH], open(__import__('os').path.join(__import__('os').path.dirname(__file__), 'mask-benchmark.json'), 'w'), ensure_ascii=False, indent=1)
