//! The local stand-in for API Gateway (HTTP API): each HTTP request becomes the same v2
//! event API Gateway would send, parsed by lambda_http exactly as in Lambda.

use axum::body::{Body as AxumBody, Bytes};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::Utc;
use lambda_http::Body;
use serde_json::{Map, Value, json};

/// The API Gateway v2 event for a request.
pub fn api_gateway_event(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Value {
    let mut header_map = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        // API Gateway joins repeated headers with commas, keys lowercased.
        let entry = header_map
            .entry(name.as_str().to_owned())
            .or_insert(Value::from(""));
        let joined = match entry.as_str() {
            Some("") | None => value,
            Some(existing) => format!("{existing},{value}"),
        };
        *entry = Value::from(joined);
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = Utc::now();
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": uri.path(),
        "rawQueryString": uri.query().unwrap_or(""),
        "headers": header_map,
        "requestContext": {
            "accountId": "local",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// The request the np-webhook handler gets, as in Lambda.
pub fn lambda_request(event: &Value) -> lambda_http::Request {
    lambda_http::request::from_str(&event.to_string())
        .expect("an API Gateway v2 event always parses")
}

/// The handler's response, back to HTTP.
pub fn http_response(response: lambda_http::Response<Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    (parts.status, parts.headers, AxumBody::from(bytes)).into_response()
}
