//! Generated PINs: length, digits only, never trivial, and uniform digits.

use pinbridge_domain::{Pin, PinLength};
use proptest::prelude::*;
use rand_core::OsRng;

/// Trivial PINs written out by hand, not derived from the generator's own rule.
const TRIVIAL: &[&str] = &[
    "0000",
    "1111",
    "9999",
    "00000",
    "11111",
    "55555",
    "99999",
    "777777",
    "000000000000",
    "1234",
    "2345",
    "6789",
    "7890",
    "12345",
    "23456",
    "56789",
    "67890",
    "78901",
    "89012",
    "90123",
    "123456",
    "234567",
    "345678",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "123456789012",
    "4321",
    "9876",
    "54321",
    "98765",
    "09876",
    "10987",
    "21098",
    "87654",
    "654321",
    "987654",
    "9876543210",
    "210987654321",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn generated_pins_have_the_length_are_digits_and_never_trivial(length in PinLength::MIN..=PinLength::MAX) {
        let pin = Pin::generate(PinLength::new(length).unwrap(), &mut OsRng);
        prop_assert_eq!(pin.len(), usize::from(length));
        prop_assert!(pin.reveal().bytes().all(|b| b.is_ascii_digit()));
        prop_assert!(!TRIVIAL.contains(&pin.reveal()));
    }
}

#[test]
fn the_trivial_list_is_recognised_as_trivial() {
    for pin in TRIVIAL {
        assert!(
            pinbridge_domain::pin::is_trivial(pin),
            "{pin} should count as trivial"
        );
    }
    for pin in ["13579", "12346", "11112", "90210", "24680", "1235"] {
        assert!(
            !pinbridge_domain::pin::is_trivial(pin),
            "{pin} is not trivial"
        );
    }
}

#[test]
fn short_pins_never_come_out_trivial_over_many_draws() {
    // With four digits, 30 of 10,000 PINs are trivial: 200,000 draws would meet each
    // of them about 600 times if they were not excluded.
    let length = PinLength::new(4).unwrap();
    for _ in 0..200_000 {
        let pin = Pin::generate(length, &mut OsRng);
        assert!(
            !TRIVIAL.contains(&pin.reveal()),
            "generated the trivial PIN {}",
            pin.reveal()
        );
    }
}

/// The regularised upper incomplete gamma function Q(a, x), for chi-square p-values
/// (series for x < a + 1, continued fraction otherwise).
fn gamma_q(a: f64, x: f64) -> f64 {
    fn ln_gamma(z: f64) -> f64 {
        // Lanczos approximation (g = 7, n = 9).
        const C: [f64; 9] = [
            0.999_999_999_999_809_9,
            676.520_368_121_885_1,
            -1_259.139_216_722_402_8,
            771.323_428_777_653_1,
            -176.615_029_162_140_6,
            12.507_343_278_686_905,
            -0.138_571_095_265_720_12,
            9.984_369_578_019_572e-6,
            1.505_632_735_149_311_6e-7,
        ];
        let z = z - 1.0;
        let mut sum = C[0];
        for (i, c) in C.iter().enumerate().skip(1) {
            sum += c / (z + i as f64);
        }
        let t = z + 7.5;
        0.5 * (2.0 * std::f64::consts::PI).ln() + (z + 0.5) * t.ln() - t + sum.ln()
    }
    let gln = ln_gamma(a);
    if x < a + 1.0 {
        let (mut ap, mut sum) = (a, 1.0 / a);
        let mut del = sum;
        for _ in 0..10_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        1.0 - sum * (-x + a * x.ln() - gln).exp()
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (-x + a * x.ln() - gln).exp() * h
    }
}

/// The p-value of a chi-square test of `observed` counts against equal expectations.
fn chi_square_p(observed: &[u64]) -> f64 {
    let total: u64 = observed.iter().sum();
    let expected = total as f64 / observed.len() as f64;
    let statistic: f64 = observed
        .iter()
        .map(|&o| (o as f64 - expected).powi(2) / expected)
        .sum();
    let df = (observed.len() - 1) as f64;
    gamma_q(df / 2.0, statistic / 2.0)
}

#[test]
fn the_chi_square_helper_is_right() {
    // Known values: P(chi2 with 9 df > 16.919) = 0.05; with 99 df > 123.225 = 0.05.
    assert!((gamma_q(4.5, 16.919 / 2.0) - 0.05).abs() < 1e-3);
    assert!((gamma_q(49.5, 123.225 / 2.0) - 0.05).abs() < 1e-3);
    // A plainly skewed distribution is rejected.
    assert!(
        chi_square_p(&[
            20_000, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000
        ]) < 1e-6
    );
}

#[test]
fn digits_are_uniform_at_each_position_and_in_adjacent_pairs() {
    const PINS: usize = 100_000;
    let length = PinLength::default();
    let n = usize::from(length.get());
    let mut per_position = vec![[0u64; 10]; n];
    let mut pairs = vec![[0u64; 100]; n - 1];
    for _ in 0..PINS {
        let pin = Pin::generate(length, &mut OsRng);
        let d: Vec<usize> = pin
            .reveal()
            .bytes()
            .map(|b| usize::from(b - b'0'))
            .collect();
        for (i, &digit) in d.iter().enumerate() {
            per_position[i][digit] += 1;
        }
        for i in 0..n - 1 {
            pairs[i][d[i] * 10 + d[i + 1]] += 1;
        }
    }
    for (i, counts) in per_position.iter().enumerate() {
        let p = chi_square_p(counts);
        assert!(
            p > 1e-6,
            "digit frequencies at position {i} rejected as uniform (p = {p:e}): {counts:?}"
        );
    }
    for (i, counts) in pairs.iter().enumerate() {
        let p = chi_square_p(counts);
        assert!(
            p > 1e-6,
            "digit pairs at positions {i},{} rejected as uniform (p = {p:e})",
            i + 1
        );
    }
}
