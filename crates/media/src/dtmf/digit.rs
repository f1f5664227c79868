use std::fmt;

/// One of the sixteen DTMF keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfDigit {
    /// Key 0.
    D0,
    /// Key 1.
    D1,
    /// Key 2.
    D2,
    /// Key 3.
    D3,
    /// Key 4.
    D4,
    /// Key 5.
    D5,
    /// Key 6.
    D6,
    /// Key 7.
    D7,
    /// Key 8.
    D8,
    /// Key 9.
    D9,
    /// The star key.
    Star,
    /// The pound (hash) key.
    Pound,
    /// Key A.
    A,
    /// Key B.
    B,
    /// Key C.
    C,
    /// Key D.
    D,
}

/// The low-group (row) frequencies, in hertz.
pub(crate) const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// The high-group (column) frequencies, in hertz.
pub(crate) const COLUMN_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// The keypad, by row and column.
const KEYPAD: [[DtmfDigit; 4]; 4] = [
    [DtmfDigit::D1, DtmfDigit::D2, DtmfDigit::D3, DtmfDigit::A],
    [DtmfDigit::D4, DtmfDigit::D5, DtmfDigit::D6, DtmfDigit::B],
    [DtmfDigit::D7, DtmfDigit::D8, DtmfDigit::D9, DtmfDigit::C],
    [
        DtmfDigit::Star,
        DtmfDigit::D0,
        DtmfDigit::Pound,
        DtmfDigit::D,
    ],
];

impl DtmfDigit {
    /// All sixteen keys, in RFC 4733 event code order.
    pub const ALL: [DtmfDigit; 16] = [
        DtmfDigit::D0,
        DtmfDigit::D1,
        DtmfDigit::D2,
        DtmfDigit::D3,
        DtmfDigit::D4,
        DtmfDigit::D5,
        DtmfDigit::D6,
        DtmfDigit::D7,
        DtmfDigit::D8,
        DtmfDigit::D9,
        DtmfDigit::Star,
        DtmfDigit::Pound,
        DtmfDigit::A,
        DtmfDigit::B,
        DtmfDigit::C,
        DtmfDigit::D,
    ];

    /// The key of an RFC 4733 event code (0–15); other events are not keys.
    pub fn from_event_code(code: u8) -> Option<DtmfDigit> {
        DtmfDigit::ALL.get(code as usize).copied()
    }

    /// The RFC 4733 event code of this key.
    pub fn event_code(self) -> u8 {
        self as u8
    }

    /// The key written as a character (`0`–`9`, `*`, `#`, `A`–`D`), as in SIP INFO bodies.
    pub fn as_char(self) -> char {
        b"0123456789*#ABCD"[self as usize] as char
    }

    /// The key of a character, accepting lower-case letters too.
    pub fn from_char(c: char) -> Option<DtmfDigit> {
        let code = match c {
            '0'..='9' => c as u8 - b'0',
            '*' => 10,
            '#' => 11,
            'A'..='D' => c as u8 - b'A' + 12,
            'a'..='d' => c as u8 - b'a' + 12,
            _ => return None,
        };
        DtmfDigit::from_event_code(code)
    }

    /// The (low, high) frequency pair of this key, in hertz.
    pub fn frequencies(self) -> (f32, f32) {
        // Row and column of each key, in event code order.
        const POSITION: [(usize, usize); 16] = [
            (3, 1),
            (0, 0),
            (0, 1),
            (0, 2),
            (1, 0),
            (1, 1),
            (1, 2),
            (2, 0),
            (2, 1),
            (2, 2),
            (3, 0),
            (3, 2),
            (0, 3),
            (1, 3),
            (2, 3),
            (3, 3),
        ];
        let (row, column) = POSITION[self as usize];
        (ROW_HZ[row], COLUMN_HZ[column])
    }

    /// The key at a keypad row and column (each 0–3).
    pub(crate) fn at(row: usize, column: usize) -> Option<DtmfDigit> {
        KEYPAD.get(row)?.get(column).copied()
    }
}

impl fmt::Display for DtmfDigit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_chars_and_frequencies_agree() {
        for (code, digit) in DtmfDigit::ALL.iter().enumerate() {
            assert_eq!(digit.event_code() as usize, code);
            assert_eq!(DtmfDigit::from_event_code(code as u8), Some(*digit));
            assert_eq!(DtmfDigit::from_char(digit.as_char()), Some(*digit));
        }
        assert_eq!(DtmfDigit::from_event_code(16), None);
        assert_eq!(DtmfDigit::from_char('e'), None);
        assert_eq!(DtmfDigit::Pound.frequencies(), (941.0, 1477.0));
        assert_eq!(DtmfDigit::D5.frequencies(), (770.0, 1336.0));
        for (row, &low) in ROW_HZ.iter().enumerate() {
            for (column, &high) in COLUMN_HZ.iter().enumerate() {
                let digit = DtmfDigit::at(row, column).unwrap();
                assert_eq!(digit.frequencies(), (low, high));
            }
        }
    }
}
