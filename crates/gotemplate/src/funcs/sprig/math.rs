//! sprig's arithmetic and number conversions.

use super::convert::{parse_int, to_float64, to_int64};
use super::{Reg, fixed, new_list, string, var};
use crate::fmt::sprint_value;
use crate::funcs::{Ty, int, s};
use crate::value::Value;

const DIV0: &str = "runtime error: integer divide by zero";

pub(super) fn register(v: &mut Reg) {
    use Ty::*;
    fixed(v, "atoi", &[String], |a| {
        Ok(Value::Int(parse_int(s(&a[0]), 10).unwrap_or(0)))
    });
    fixed(v, "int64", &[Any], |a| Ok(Value::Int64(to_int64(&a[0]))));
    fixed(v, "int", &[Any], |a| Ok(Value::Int(to_int64(&a[0]))));
    fixed(v, "float64", &[Any], |a| {
        Ok(Value::Float(to_float64(&a[0])))
    });
    fixed(v, "toDecimal", &[Any], |a| {
        Ok(Value::Int64(
            parse_int(&sprint_value(&a[0]), 8).unwrap_or(0),
        ))
    });
    fixed(v, "add1", &[Any], |a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_add(1)))
    });
    var(v, "add", &[], Any, |a| {
        Ok(Value::Int64(
            a.iter().fold(0i64, |acc, x| acc.wrapping_add(to_int64(x))),
        ))
    });
    fixed(v, "sub", &[Any, Any], |a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
    });
    fixed(v, "div", &[Any, Any], |a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err(DIV0.into());
        }
        Ok(Value::Int64(to_int64(&a[0]).wrapping_div(d)))
    });
    fixed(v, "mod", &[Any, Any], |a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err(DIV0.into());
        }
        Ok(Value::Int64(to_int64(&a[0]).wrapping_rem(d)))
    });
    var(v, "mul", &[Any], Any, |a| {
        Ok(Value::Int64(
            a[1..]
                .iter()
                .fold(to_int64(&a[0]), |acc, x| acc.wrapping_mul(to_int64(x))),
        ))
    });
    fixed(v, "randInt", &[Int, Int], |a| {
        let (lo, hi) = (int(&a[0]), int(&a[1]));
        if hi <= lo {
            return Err("invalid argument to Intn".into());
        }
        Ok(Value::Int(fastrand::i64(lo..hi)))
    });
    fixed(v, "add1f", &[Any], |a| {
        Ok(Value::Float(dec_op(&a[0], &[Value::Int(1)], Op::Add)))
    });
    var(v, "addf", &[], Any, |a| {
        Ok(Value::Float(dec_op(&Value::Float(0.0), a, Op::Add)))
    });
    var(v, "subf", &[Any], Any, |a| {
        Ok(Value::Float(dec_op(&a[0], &a[1..], Op::Sub)))
    });
    var(v, "divf", &[Any], Any, |a| {
        if a[1..].iter().any(|x| to_float64(x) == 0.0) {
            return Err("decimal division by 0".into());
        }
        Ok(Value::Float(dec_op(&a[0], &a[1..], Op::Div)))
    });
    var(v, "mulf", &[Any], Any, |a| {
        Ok(Value::Float(dec_op(&a[0], &a[1..], Op::Mul)))
    });
    for name in ["biggest", "max"] {
        var(v, name, &[Any], Any, |a| {
            Ok(Value::Int64(
                a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::max),
            ))
        });
    }
    var(v, "min", &[Any], Any, |a| {
        Ok(Value::Int64(
            a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::min),
        ))
    });
    var(v, "maxf", &[Any], Any, |a| {
        Ok(Value::Float(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), go_max),
        ))
    });
    var(v, "minf", &[Any], Any, |a| {
        Ok(Value::Float(
            a[1..]
                .iter()
                .map(to_float64)
                .fold(to_float64(&a[0]), go_min),
        ))
    });
    fixed(v, "floor", &[Any], |a| {
        Ok(Value::Float(to_float64(&a[0]).floor()))
    });
    fixed(v, "ceil", &[Any], |a| {
        Ok(Value::Float(to_float64(&a[0]).ceil()))
    });
    var(v, "round", &[Any, Int], Float, |a| {
        let round_on = a.get(2).map(to_float64).unwrap_or(0.5);
        let val = to_float64(&a[0]);
        let pow = 10f64.powf(int(&a[1]) as f64);
        let digit = pow * val;
        let frac = digit.fract();
        let r = if frac >= round_on {
            digit.ceil()
        } else {
            digit.floor()
        };
        Ok(Value::Float(r / pow))
    });
    fixed(v, "until", &[Int], |a| {
        let c = int(&a[0]);
        Ok(int_list(until_step(0, c, if c < 0 { -1 } else { 1 })))
    });
    fixed(v, "untilStep", &[Int, Int, Int], |a| {
        Ok(int_list(until_step(int(&a[0]), int(&a[1]), int(&a[2]))))
    });
    var(v, "seq", &[], Int, |a| {
        Ok(string(seq(&a.iter().map(int).collect::<Vec<_>>())))
    });
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    a.max(b)
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    a.min(b)
}

fn int_list(v: Vec<i64>) -> Value {
    new_list(v.into_iter().map(Value::Int).collect())
}

fn until_step(start: i64, stop: i64, step: i64) -> Vec<i64> {
    let mut v = Vec::new();
    if stop < start {
        if step >= 0 {
            return v;
        }
        let mut i = start;
        while i > stop {
            v.push(i);
            i += step;
        }
        return v;
    }
    if step <= 0 {
        return v;
    }
    let mut i = start;
    while i < stop {
        v.push(i);
        i += step;
    }
    v
}

fn seq(p: &[i64]) -> String {
    let join = |v: Vec<i64>| {
        v.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match p.len() {
        1 => {
            let (start, end) = (1, p[0]);
            let inc = if end < start { -1 } else { 1 };
            join(until_step(start, end + inc, inc))
        }
        2 => {
            let (start, end) = (p[0], p[1]);
            let step = if end < start { -1 } else { 1 };
            join(until_step(start, end + step, step))
        }
        3 => {
            let (start, step, end) = (p[0], p[1], p[2]);
            let mut inc = 1;
            if end < start {
                inc = -1;
                if step > 0 {
                    return String::new();
                }
            }
            join(until_step(start, end + inc, step))
        }
        _ => String::new(),
    }
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// A decimal as shopspring/decimal holds it: value × 10^exp.
#[derive(Clone, Copy)]
struct Dec {
    value: i128,
    exp: i32,
}

impl Dec {
    /// `decimal.NewFromFloat`: the shortest decimal that round-trips.
    fn from_f64(f: f64) -> Option<Dec> {
        if !f.is_finite() {
            return None;
        }
        let s = format!("{f:e}");
        let (mant, e) = s.split_once('e')?;
        let e: i32 = e.parse().ok()?;
        let neg = mant.starts_with('-');
        let mant = mant.trim_start_matches('-');
        let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
        let digits = format!("{ip}{fp}");
        let mut value: i128 = digits.parse().ok()?;
        if neg {
            value = -value;
        }
        Some(Dec {
            value,
            exp: e - fp.len() as i32,
        })
    }

    fn rescale(self, exp: i32) -> Option<Dec> {
        if exp >= self.exp {
            return Some(self);
        }
        let mul = 10i128.checked_pow((self.exp - exp) as u32)?;
        Some(Dec {
            value: self.value.checked_mul(mul)?,
            exp,
        })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.value, self.exp)
            .parse()
            .unwrap_or(f64::NAN)
    }

    fn op(self, o: Dec, op: Op) -> Option<Dec> {
        match op {
            Op::Add | Op::Sub => {
                let e = self.exp.min(o.exp);
                let (a, b) = (self.rescale(e)?, o.rescale(e)?);
                let v = match op {
                    Op::Add => a.value.checked_add(b.value)?,
                    _ => a.value.checked_sub(b.value)?,
                };
                Some(Dec { value: v, exp: e })
            }
            Op::Mul => Some(Dec {
                value: self.value.checked_mul(o.value)?,
                exp: self.exp + o.exp,
            }),
            Op::Div => {
                // shopspring: DivRound(d2, 16), rounding half away from zero.
                const PREC: i32 = 16;
                if o.value == 0 {
                    return None;
                }
                let shift = PREC + 1 + self.exp - o.exp;
                let (num, den) = if shift >= 0 {
                    (
                        self.value.checked_mul(10i128.checked_pow(shift as u32)?)?,
                        o.value,
                    )
                } else {
                    (
                        self.value,
                        o.value.checked_mul(10i128.checked_pow((-shift) as u32)?)?,
                    )
                };
                let q = num / den;
                // q has PREC+1 decimals; round the last one away.
                let (q10, last) = (q / 10, q % 10);
                let rounded = if last.abs() >= 5 {
                    q10 + q.signum()
                } else {
                    q10
                };
                Some(Dec {
                    value: rounded,
                    exp: -PREC,
                })
            }
        }
    }
}

fn dec_op(a: &Value, rest: &[Value], op: Op) -> f64 {
    let fa = to_float64(a);
    let mut acc = Dec::from_f64(fa);
    let mut fallback = fa;
    for x in rest {
        let fx = to_float64(x);
        fallback = match op {
            Op::Add => fallback + fx,
            Op::Sub => fallback - fx,
            Op::Mul => fallback * fx,
            Op::Div => fallback / fx,
        };
        acc = match (acc, Dec::from_f64(fx)) {
            (Some(a), Some(b)) => a.op(b, op),
            _ => None,
        };
    }
    acc.map(Dec::to_f64).unwrap_or(fallback)
}
