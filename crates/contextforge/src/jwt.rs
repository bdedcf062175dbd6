//! ContextForge-compatible JWTs (HS256), with the claims its own
//! `python -m mcpgateway.utils.create_jwt_token` writes: `username`/`sub`, `iat`, `exp`,
//! `iss = mcpgateway`, `aud = mcpgateway-api`, `jti`, `env = development`; `--admin` adds the
//! `user` object with `is_admin` and `teams: null` (unrestricted); `--teams` scopes the token.
//! The gateway refuses tokens without `jti`, `exp`, `iss` or `aud`, or with another `env`.

use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "mcpgateway";
pub const AUDIENCE: &str = "mcpgateway-api";
pub const ENVIRONMENT: &str = "development";
/// The Python tool's default lifetime, in minutes (a week).
pub const DEFAULT_EXPIRY_MINUTES: u64 = 10_080;
/// The longest lifetime accepted (ten years): beyond it the `exp` arithmetic would overflow into
/// a token that is already expired.
pub const MAX_EXPIRY_MINUTES: u64 = 10 * 366 * 24 * 60;

/// What to put in a token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub username: String,
    /// Minutes until expiry; 0 means no `exp` claim (the gateway then refuses it, as the Python
    /// tool warns).
    pub expires_in_minutes: u64,
    pub admin: bool,
    /// Team ids the token is scoped to (ignored with `admin`, which means all teams).
    pub teams: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub username: String,
    pub sub: String,
    pub iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    pub env: String,
    /// Present (null or a list) only for admin or team-scoped tokens.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "teams_field")]
    pub teams: Option<Option<Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub email: String,
    pub full_name: String,
    pub is_admin: bool,
    pub auth_provider: String,
}

/// `teams` has three states: absent (public-only), `null` (admin: every team), or a list.
mod teams_field {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(
        v: &Option<Option<Vec<String>>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<Vec<String>>>, D::Error> {
        Option::<Vec<String>>::deserialize(d).map(Some)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the signing secret is empty")]
    EmptySecret,
    #[error("the username is empty")]
    EmptyUsername,
    #[error("an expiry of {0} minutes is beyond the limit of {MAX_EXPIRY_MINUTES} (ten years)")]
    ExpiryTooFar(u64),
    #[error("signing failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

impl TokenRequest {
    pub fn claims(&self, now: chrono::DateTime<chrono::Utc>) -> Claims {
        let iat = now.timestamp();
        Claims {
            username: self.username.clone(),
            sub: self.username.clone(),
            iat,
            // `mint` refuses lifetimes beyond MAX_EXPIRY_MINUTES, so this cannot overflow.
            exp: (self.expires_in_minutes > 0).then(|| iat + 60 * self.expires_in_minutes as i64),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: uuid::Uuid::new_v4().to_string(),
            env: ENVIRONMENT.into(),
            teams: if self.admin {
                Some(None)
            } else {
                self.teams.clone().map(Some)
            },
            user: self.admin.then(|| User {
                email: self.username.clone(),
                full_name: "CLI User".into(),
                is_admin: true,
                auth_provider: "cli".into(),
            }),
        }
    }
}

/// Signs a token for `request` with `secret` (HS256).
pub fn mint(request: &TokenRequest, secret: &str) -> Result<String, JwtError> {
    if secret.is_empty() {
        return Err(JwtError::EmptySecret);
    }
    if request.username.trim().is_empty() {
        return Err(JwtError::EmptyUsername);
    }
    if request.expires_in_minutes > MAX_EXPIRY_MINUTES {
        return Err(JwtError::ExpiryTooFar(request.expires_in_minutes));
    }
    let claims = request.claims(chrono::Utc::now());
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// An admin token for the platform admin a benchmark stack creates ([`crate::naming::ADMIN_EMAIL`]),
/// as the stack's registration and the load tests use, valid for `minutes`.
pub fn admin_token(secret: &str, minutes: u64) -> Result<String, JwtError> {
    mint(
        &TokenRequest {
            username: crate::naming::ADMIN_EMAIL.into(),
            expires_in_minutes: minutes,
            admin: true,
            teams: None,
        },
        secret,
    )
}

/// Checks a token as the gateway does (signature, issuer, audience, expiry) and returns its claims.
pub fn verify(token: &str, secret: &str) -> Result<Claims, JwtError> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )?;
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(admin: bool, teams: Option<Vec<String>>) -> TokenRequest {
        TokenRequest {
            username: crate::naming::ADMIN_EMAIL.into(),
            expires_in_minutes: 60,
            admin,
            teams,
        }
    }

    #[test]
    fn a_plain_token_carries_exactly_the_python_tools_claims() {
        let token = mint(&request(false, None), "s3cret-s3cret-s3cret-s3cret-s3cret").unwrap();
        let claims = verify(&token, "s3cret-s3cret-s3cret-s3cret-s3cret").unwrap();
        assert_eq!(
            (
                claims.iss.as_str(),
                claims.aud.as_str(),
                claims.env.as_str()
            ),
            (ISSUER, AUDIENCE, ENVIRONMENT)
        );
        assert_eq!(claims.sub, crate::naming::ADMIN_EMAIL);
        assert_eq!(claims.exp.unwrap() - claims.iat, 3600);
        assert_eq!(claims.jti.len(), 36);
        let raw: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                token.split('.').nth(1).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let mut keys: Vec<&str> = raw
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            ["aud", "env", "exp", "iat", "iss", "jti", "sub", "username"]
        );
    }

    #[test]
    fn admin_tokens_are_unrestricted_and_team_tokens_scoped() {
        let admin = request(true, None).claims(chrono::Utc::now());
        assert_eq!(admin.teams, Some(None));
        assert!(admin.user.unwrap().is_admin);
        let json = serde_json::to_value(request(true, None).claims(chrono::Utc::now())).unwrap();
        assert!(json["teams"].is_null() && json.as_object().unwrap().contains_key("teams"));
        let scoped = request(false, Some(vec!["team-a".into()])).claims(chrono::Utc::now());
        assert_eq!(scoped.teams, Some(Some(vec!["team-a".to_string()])));
        assert!(scoped.user.is_none());
    }

    #[test]
    fn another_secret_does_not_verify_and_empty_inputs_are_refused() {
        let token = mint(&request(false, None), "one-secret-one-secret-one-secret").unwrap();
        assert!(verify(&token, "another-secret-another-secret-xx").is_err());
        assert!(matches!(
            mint(&request(false, None), ""),
            Err(JwtError::EmptySecret)
        ));
        let nobody = TokenRequest {
            username: " ".into(),
            ..request(false, None)
        };
        assert!(matches!(mint(&nobody, "x"), Err(JwtError::EmptyUsername)));
    }

    #[test]
    fn an_expiry_beyond_ten_years_is_refused_not_wrapped() {
        let far = TokenRequest {
            expires_in_minutes: u64::MAX,
            ..request(false, None)
        };
        assert!(matches!(mint(&far, "x"), Err(JwtError::ExpiryTooFar(_))));
        let token = admin_token("a-secret", MAX_EXPIRY_MINUTES).unwrap();
        let claims = verify(&token, "a-secret").unwrap();
        assert!(claims.exp.unwrap() > claims.iat);
        assert_eq!(claims.sub, crate::naming::ADMIN_EMAIL);
    }

    #[test]
    fn zero_minutes_means_no_expiry_claim() {
        let claims = TokenRequest {
            expires_in_minutes: 0,
            ..request(false, None)
        }
        .claims(chrono::Utc::now());
        assert!(claims.exp.is_none());
    }
}
