//! Framer tests: both framings, oversize, EOF, and chunking invariance.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

type Out = Vec<Result<Bytes, DecodeError>>;

fn run(chunks: &[&[u8]], max: usize) -> (Out, FramerStats) {
    let mut f = SyslogFramer::new(max);
    let mut out = Vec::new();
    for c in chunks {
        f.push(c);
        while let Some(fr) = f.next_frame() {
            out.push(fr);
        }
    }
    out.extend(f.finish());
    (out, f.stats())
}

fn frames(out: &Out) -> Vec<Result<&[u8], DecodeError>> {
    out.iter()
        .map(|r| r.as_ref().map(|b| &b[..]).map_err(|e| *e))
        .collect()
}

#[test]
fn mixed_framing() {
    let stream: &[u8] =
        b"<34>1 - a\n27 <13>1 - - - - - - octet\nnot\r\n<14>x\0<15>y\r\n\n\n14 <16>zzzzzzzzzz<17>tail";
    let (out, st) = run(&[stream], 1024);
    assert_eq!(
        frames(&out),
        vec![
            Ok(&b"<34>1 - a"[..]),
            Ok(&b"<13>1 - - - - - - octet\nnot"[..]),
            Ok(&b"<14>x"[..]),
            Ok(&b"<15>y"[..]),
            Ok(&b"<16>zzzzzzzzzz"[..]),
            Ok(&b"<17>tail"[..]),
        ]
    );
    assert_eq!(st.frames, 6);
    assert_eq!(st.octet_counted, 2);
}

#[test]
fn digits_without_pri_are_newline_framed() {
    let (out, _) = run(&[b"123 foo\n000123: Mar 14 x\n12345678901 <1>\n"], 1024);
    assert_eq!(
        frames(&out),
        vec![
            Ok(&b"123 foo"[..]),
            Ok(&b"000123: Mar 14 x"[..]),
            Ok(&b"12345678901 <1>"[..]),
        ]
    );
}

#[test]
fn oversized_frames_are_skipped_and_resync() {
    let long = vec![b'x'; 100];
    let mut s = b"<1>ok\n".to_vec();
    s.extend_from_slice(&long);
    s.extend_from_slice(b"\n<2>after\n150 <3>");
    s.extend_from_slice(&[b'y'; 147]);
    s.extend_from_slice(b"<4>after2\n");
    let (out, st) = run(&[&s], 64);
    assert_eq!(
        frames(&out),
        vec![
            Ok(&b"<1>ok"[..]),
            Err(DecodeError::TooLong),
            Ok(&b"<2>after"[..]),
            Err(DecodeError::TooLong),
            Ok(&b"<4>after2"[..]),
        ]
    );
    assert_eq!(st.oversized, 2);
    // Same stream fed byte by byte: nothing is buffered past the limit.
    let chunks: Vec<&[u8]> = s.chunks(1).collect();
    let mut f = SyslogFramer::new(64);
    let mut n = 0;
    for c in &chunks {
        f.push(c);
        while f.next_frame().is_some() {
            n += 1;
        }
        assert!(f.buffered() <= 66, "buffered {}", f.buffered());
    }
    assert_eq!(n, 5);
}

#[test]
fn pushing_without_draining_keeps_stream_order() {
    let mut f = SyslogFramer::new(8);
    f.push(b"20 <1>0123");
    f.push(b"45678901234");
    f.push(b"67<2>ok\n");
    let mut out = Vec::new();
    while let Some(r) = f.next_frame() {
        out.push(r.map(|b| b.to_vec()));
    }
    assert_eq!(out, vec![Err(DecodeError::TooLong), Ok(b"<2>ok".to_vec())]);
    // Discard pending with bytes still buffered, then push more.
    let mut f = SyslogFramer::new(8);
    f.push(b"12 <1>0123456");
    assert_eq!(f.next_frame(), Some(Err(DecodeError::TooLong)));
    f.push(b"78<2>ok\n");
    assert_eq!(
        f.next_frame(),
        Some(Ok(bytes::Bytes::from_static(b"<2>ok")))
    );
}

#[test]
fn eof_inside_octet_frame_is_truncated() {
    let (out, st) = run(&[b"<1>a\n40 <2>short"], 1024);
    assert_eq!(
        frames(&out),
        vec![Ok(&b"<1>a"[..]), Err(DecodeError::Truncated)]
    );
    assert_eq!(st.truncated, 1);
    // Undecided prefix at EOF is a newline frame.
    let (out, _) = run(&[b"<1>a\n12"], 1024);
    assert_eq!(frames(&out), vec![Ok(&b"<1>a"[..]), Ok(&b"12"[..])]);
}

#[test]
fn every_split_point_gives_the_same_frames() {
    let stream: &[u8] =
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed\r\n\
        76 <165>1 2003-10-11T22:14:15.003Z host evntslog - ID47 [a@1 k=\"v\"] hello\n\
        Mar 14 03:12:07.412 UTC: %LINK-3-UPDOWN: Interface Te1/1/1, changed state to down\0\
        9 <1>abcde<2>x\n";
    let (whole, _) = run(&[stream], 1024);
    assert_eq!(whole.len(), 5);
    for i in 0..=stream.len() {
        let (a, b) = stream.split_at(i);
        assert_eq!(run(&[a, b], 1024).0, whole, "split at {i}");
        for j in i..=stream.len() {
            let (b1, b2) = b.split_at(j - i);
            assert_eq!(run(&[a, b1, b2], 1024).0, whole, "split at {i},{j}");
        }
    }
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(run(&bytewise, 1024).0, whole);
}

#[derive(Debug, Clone)]
enum Frame {
    Newline(Vec<u8>, &'static [u8]),
    Counted(Vec<u8>),
}

fn frame_strategy() -> impl Strategy<Value = Frame> {
    // Messages start with `<PRI>` (as real ones do) so that a newline frame is
    // never mistaken for an octet count; bodies exclude delimiters.
    let body = proptest::collection::vec(
        any::<u8>().prop_filter("no delimiters", |b| !matches!(b, b'\n' | b'\r' | b'\0')),
        0..90,
    );
    let msg = (0u8..192, body).prop_map(|(pri, body)| {
        let mut m = format!("<{pri}>").into_bytes();
        m.extend(body);
        m
    });
    prop_oneof![
        (
            msg.clone(),
            prop::sample::select(vec![&b"\n"[..], b"\r\n", b"\0"])
        )
            .prop_map(|(m, d)| Frame::Newline(m, d)),
        msg.prop_map(Frame::Counted),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_chunking_yields_the_same_frames(
        input in proptest::collection::vec(frame_strategy(), 0..12),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..24),
        max in 40usize..128,
    ) {
        let mut stream = Vec::new();
        let mut expected: Vec<Result<Vec<u8>, DecodeError>> = Vec::new();
        for f in &input {
            match f {
                Frame::Newline(m, d) => {
                    stream.extend_from_slice(m);
                    stream.extend_from_slice(d);
                    // CR of CRLF counts toward the limit, as sent.
                    let sent = m.len() + usize::from(*d == b"\r\n");
                    expected.push(if sent > max { Err(DecodeError::TooLong) } else { Ok(m.clone()) });
                }
                Frame::Counted(m) => {
                    stream.extend_from_slice(format!("{} ", m.len()).as_bytes());
                    stream.extend_from_slice(m);
                    expected.push(if m.len() > max { Err(DecodeError::TooLong) } else { Ok(m.clone()) });
                }
            }
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&stream[last..p]);
            last = p;
        }
        chunks.push(&stream[last..]);
        let (out, st) = run(&chunks, max);
        let got: Vec<Result<Vec<u8>, DecodeError>> =
            out.into_iter().map(|r| r.map(|b| b.to_vec())).collect();
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(st.frames as usize, expected.iter().filter(|r| r.is_ok()).count());
    }
}
