//! The values of `truce`'s enum flags, generated from the proto enums, so
//! that `--help` and the error for a mistyped value list exactly what the
//! protocol has and cannot drift from it: `EVENT_TYPE_DRONE_STRIKE` is
//! `drone-strike`, the label human output uses too.

use clap::builder::{PossibleValue, PossibleValuesParser};
use truce_proto::v1::{
    AgreementForm, AgreementMedium, AgreementPurpose, AgreementStatus, AttributionStatus,
    ClaimKind, ComplianceFinding, EntryKind, EventType, EvidenceStatus, GeoPrecision,
    InformationCredibility, Interception, PartyRole, ProhibitedAct, SourceKind, SourceReliability,
    TargetClass, TimePrecision, Weapon,
};

/// A proto enum value's label: its type prefix stripped, lower case,
/// kebab-case (`EVENT_TYPE_DRONE_STRIKE` → `drone-strike`).
pub fn label(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// The labels of every value of proto enum `E` but UNSPECIFIED, in the
/// order of their numbers. `name` is the generated `as_str_name`.
pub fn labels<E: TryFrom<i32>>(prefix: &str, name: fn(&E) -> &'static str) -> Vec<String> {
    (1..=i32::from(u8::MAX))
        .filter_map(|i| E::try_from(i).ok())
        .map(|e| label(name(&e), prefix))
        .collect()
}

/// The value parser of a flag taking proto enum `E`: the labels are its
/// possible values (listed by `--help` and by the error for a value that
/// is not one); the snake-case and full proto names are accepted too, as
/// hidden aliases. Give the flag `ignore_case = true`.
pub fn parser<E: TryFrom<i32>>(
    prefix: &'static str,
    name: fn(&E) -> &'static str,
) -> PossibleValuesParser {
    parser_with(prefix, name, |_, _| None)
}

/// [`parser`] with one more hidden alias per value (`alias(index, label)`),
/// e.g. the Admiralty letter of a reliability grade.
pub fn parser_with<E: TryFrom<i32>>(
    prefix: &'static str,
    name: fn(&E) -> &'static str,
    alias: fn(usize, &str) -> Option<String>,
) -> PossibleValuesParser {
    let values = labels(prefix, name).into_iter().enumerate().map(|(i, l)| {
        let mut v = PossibleValue::new(l.clone())
            .alias(l.replace('-', "_"))
            .alias(format!(
                "{prefix}{}",
                l.replace('-', "_").to_ascii_uppercase()
            ));
        if let Some(a) = alias(i, &l) {
            v = v.alias(a);
        }
        v
    });
    PossibleValuesParser::new(values)
}

/// The labels joined for a help text.
pub fn listed<E: TryFrom<i32>>(prefix: &str, name: fn(&E) -> &'static str) -> String {
    labels(prefix, name).join(", ")
}

// One value parser per enum flag, all from `parser`.

/// `EventType` values.
pub fn event_type() -> PossibleValuesParser {
    parser::<EventType>("EVENT_TYPE_", EventType::as_str_name)
}

/// `TargetClass` values.
pub fn target_class() -> PossibleValuesParser {
    parser::<TargetClass>("TARGET_CLASS_", TargetClass::as_str_name)
}

/// `Weapon` values.
pub fn weapon() -> PossibleValuesParser {
    parser::<Weapon>("WEAPON_", Weapon::as_str_name)
}

/// `TimePrecision` values.
pub fn time_precision() -> PossibleValuesParser {
    parser::<TimePrecision>("TIME_PRECISION_", TimePrecision::as_str_name)
}

/// `GeoPrecision` values.
pub fn geo_precision() -> PossibleValuesParser {
    parser::<GeoPrecision>("GEO_PRECISION_", GeoPrecision::as_str_name)
}

/// `AttributionStatus` values.
pub fn attribution() -> PossibleValuesParser {
    parser::<AttributionStatus>("ATTRIBUTION_STATUS_", AttributionStatus::as_str_name)
}

/// `EvidenceStatus` values.
pub fn evidence_status() -> PossibleValuesParser {
    parser::<EvidenceStatus>("EVIDENCE_STATUS_", EvidenceStatus::as_str_name)
}

/// `Interception` values.
pub fn interception() -> PossibleValuesParser {
    parser::<Interception>("INTERCEPTION_", Interception::as_str_name)
}

/// `SourceKind` values.
pub fn source_kind() -> PossibleValuesParser {
    parser::<SourceKind>("SOURCE_KIND_", SourceKind::as_str_name)
}

/// `AgreementForm` values.
pub fn agreement_form() -> PossibleValuesParser {
    parser::<AgreementForm>("AGREEMENT_FORM_", AgreementForm::as_str_name)
}

/// `AgreementMedium` values.
pub fn agreement_medium() -> PossibleValuesParser {
    parser::<AgreementMedium>("AGREEMENT_MEDIUM_", AgreementMedium::as_str_name)
}

/// `AgreementPurpose` values.
pub fn agreement_purpose() -> PossibleValuesParser {
    parser::<AgreementPurpose>("AGREEMENT_PURPOSE_", AgreementPurpose::as_str_name)
}

/// `ProhibitedAct` values.
pub fn prohibited_act() -> PossibleValuesParser {
    parser::<ProhibitedAct>("PROHIBITED_ACT_", ProhibitedAct::as_str_name)
}

/// `ClaimKind` values.
pub fn claim_kind() -> PossibleValuesParser {
    parser::<ClaimKind>("CLAIM_KIND_", ClaimKind::as_str_name)
}

/// `AgreementStatus` values.
pub fn agreement_status() -> PossibleValuesParser {
    parser::<AgreementStatus>("AGREEMENT_STATUS_", AgreementStatus::as_str_name)
}

/// `ComplianceFinding` values.
pub fn compliance_finding() -> PossibleValuesParser {
    parser::<ComplianceFinding>("COMPLIANCE_FINDING_", ComplianceFinding::as_str_name)
}

/// `EntryKind` values.
pub fn entry_kind() -> PossibleValuesParser {
    parser::<EntryKind>("ENTRY_KIND_", EntryKind::as_str_name)
}

/// Admiralty source reliability: the labels, and their letters `a`..`f`.
pub fn reliability() -> PossibleValuesParser {
    parser_with::<SourceReliability>(
        "SOURCE_RELIABILITY_",
        SourceReliability::as_str_name,
        |_, l| {
            l.split_once('-')
                .filter(|(a, _)| a.len() == 1)
                .map(|(a, _)| a.to_owned())
        },
    )
}

/// Admiralty information credibility: the labels, and their digits `1`..`6`.
pub fn credibility() -> PossibleValuesParser {
    parser_with::<InformationCredibility>(
        "INFORMATION_CREDIBILITY_",
        InformationCredibility::as_str_name,
        |i, _| (1..=6).contains(&i).then(|| i.to_string()),
    )
}

/// The help of `--party CODE:ROLE[:NAME]`, naming the roles.
pub fn party_help() -> String {
    format!(
        "A party as CODE:ROLE[:NAME], e.g. RU:signatory or US:mediator:United States \
         (repeatable; ROLE: {})",
        listed::<PartyRole>("PARTY_ROLE_", PartyRole::as_str_name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_proto_enum() {
        let l = labels::<EventType>("EVENT_TYPE_", EventType::as_str_name);
        assert!(l.contains(&"drone-strike".to_owned()), "{l:?}");
        assert!(!l.iter().any(|v| v.contains("unspecified")), "{l:?}");
        assert_eq!(
            labels::<SourceReliability>("SOURCE_RELIABILITY_", SourceReliability::as_str_name)[1],
            "a-completely-reliable"
        );
    }
}
