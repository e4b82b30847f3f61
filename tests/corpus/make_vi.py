#!/usr/bin/env python3
"""Writes the project's own labelled messages into tests/corpus/{ham,spam}/vi-*.eml.

Hand-written sentence pools, combined per message (deterministic: seeded), so that no two
messages are the same text. Run from the repository root: python3 tests/corpus/make_vi.py
"""
import random, os, email.utils, datetime

R = random.Random(18)
BASE = datetime.datetime(2026, 11, 2, 8, 0, tzinfo=datetime.timezone.utc)

UNITS = [("Sở Thông tin và Truyền thông", "stttt"), ("Sở Tài chính", "stc"), ("Sở Nội vụ", "snv"),
         ("Sở Giáo dục và Đào tạo", "sgddt"), ("Sở Y tế", "syt"), ("UBND huyện Đăk Hà", "dakha"),
         ("Văn phòng UBND tỉnh", "vpubnd"), ("Sở Kế hoạch và Đầu tư", "skhdt")]
PEOPLE = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thị Dung", "Hoàng Minh Đức",
          "Võ Thị Giang", "Đặng Quốc Huy", "Bùi Thị Lan", "Y Nhung", "A Thái"]
HAM_SUBJ = ["V/v báo cáo kết quả chuyển đổi số quý {q}", "Giấy mời họp giao ban tháng {m}",
            "Công văn số {n}/{u}-VP về việc góp ý dự thảo quy chế", "Bản tin nội bộ số {n}",
            "Kế hoạch tập huấn sử dụng chữ ký số năm 2026", "Thông báo lịch trực Tết Nguyên đán",
            "V/v cung cấp số liệu phục vụ báo cáo tổng kết", "Re: Dự thảo tờ trình ngân sách {q}",
            "Thư mời dự hội nghị sơ kết công tác cải cách hành chính", "Báo cáo tình hình an toàn thông tin tháng {m}",
            "Meeting notes: e-government interoperability workshop", "Re: training schedule for the records system"]
HAM_BODY = ["Kính gửi: Các phòng, ban, đơn vị trực thuộc.",
            "Thực hiện Kế hoạch số {n}/KH-UBND của Ủy ban nhân dân tỉnh Kon Tum về chuyển đổi số,",
            "Sở đề nghị các đơn vị tổng hợp số liệu và gửi về Văn phòng trước ngày {d}/{m}/2026.",
            "Thời gian: 08 giờ 00 phút, ngày {d}/{m}/2026. Địa điểm: Phòng họp tầng 3.",
            "Thành phần: Lãnh đạo Sở, Trưởng các phòng chuyên môn và chuyên viên phụ trách.",
            "Đề nghị các đồng chí tham dự đầy đủ, đúng thành phần.",
            "Dự thảo quy chế được đính kèm trong hệ thống quản lý văn bản điều hành.",
            "Trong tháng, hệ thống ghi nhận {n} sự cố, đã xử lý dứt điểm, không ảnh hưởng hoạt động.",
            "Bản tin kỳ này điểm lại hoạt động nổi bật: hội thảo chuyển đổi số, tập huấn chữ ký số.",
            "Mọi ý kiến góp ý xin gửi về đồng chí {p}, điện thoại 0260.38{n}.",
            "Trân trọng./.", "Nơi nhận: Như trên; Lưu: VT, VP.",
            "Please find the agenda of the workshop in the document system; comments are welcome before Friday.",
            "The records system training for unit clerks will run in two sessions next week.",
            "Xin cảm ơn anh chị đã phối hợp trong thời gian qua.",
            "Văn phòng Sở sẽ tổng hợp, báo cáo Giám đốc Sở xem xét, quyết định."]
SPAM_SUBJ = ["CHÚC MỪNG BẠN ĐÃ TRÚNG THƯỞNG XE SH", "Vay tiền nhanh chỉ cần CCCD, giải ngân trong 5 phút",
             "Thông báo: tài khoản ngân hàng của quý khách sẽ bị khóa", "Cục Thuế: hoàn thuế TNCN cho quý khách",
             "Cơ hội đầu tư tiền ảo lợi nhuận 300%/tháng", "Nhà cái uy tín tặng 500K cho thành viên mới",
             "Thuốc tăng cường sinh lý nhập khẩu chính hãng", "Bán data khách hàng giá rẻ",
             "Your mailbox is almost full - verify now", "URGENT: payment invoice overdue",
             "You have won a $1,000,000 prize", "Cheap meds online, no prescription needed",
             "Việc làm online tại nhà thu nhập 20 triệu/tháng", "Xác thực tài khoản email công vụ của bạn"]
SPAM_BODY = ["Chúc mừng quý khách đã được chọn nhận phần thưởng trị giá {n} triệu đồng!",
             "Vui lòng bấm vào liên kết bên dưới để nhận thưởng trong vòng 24 giờ.",
             "Chỉ cần căn cước công dân, không thẩm định, giải ngân ngay trong ngày.",
             "Lãi suất siêu thấp 0%, hỗ trợ nợ xấu, liên hệ Zalo 09{n}.",
             "Tài khoản của quý khách có dấu hiệu bất thường và sẽ bị tạm khóa.",
             "Để tránh gián đoạn, vui lòng đăng nhập và xác minh thông tin ngay hôm nay.",
             "Quý khách được hoàn thuế {n}.000.000 đồng, vui lòng cập nhật số tài khoản.",
             "Đầu tư một lần, nhận lãi hằng ngày, cam kết hoàn vốn 100%.",
             "Đăng ký ngay hôm nay nhận khuyến mãi cực khủng, số lượng có hạn!",
             "Sản phẩm chính hãng, giao hàng kín đáo toàn quốc, thanh toán khi nhận hàng.",
             "Your mailbox storage is 99% full. Click here to upgrade your quota for free.",
             "Please review the attached invoice and make the payment immediately to avoid penalties.",
             "Congratulations! Your email address was selected in our international lottery.",
             "Buy now and save up to 80%, limited time offer, act now!",
             "Làm việc tại nhà chỉ 2 giờ mỗi ngày, không cần kinh nghiệm, thu nhập hấp dẫn.",
             "Hệ thống email công vụ yêu cầu xác thực lại mật khẩu, nếu không hộp thư sẽ bị xóa."]
SPAM_LINKS = ["https://bit.ly/qua{n}", "http://45.77.{n}.12/nhanthuong", "https://vcb-xacthuc{n}.top/login",
              "https://tinyurl.com/vay{n}", "http://hoanthue-gdt{n}.xyz/", "https://nhacai{n}.bet/dangky",
              "http://mailbox-upgrade{n}.site/owa", "https://cutt.ly/inv{n}"]
SPAM_FROM = [("Vietcombank", "no-reply@vcb-thongbao{n}.top"), ("Tong cuc Thue", "hoanthue@gdt-vn{n}.xyz"),
             ("Phong Khuyen Mai", "khuyenmai{n}@gmail-promo.example"), ("Admin Mail", "admin@mail-quota{n}.site"),
             ("\"support@kontum.gov.vn\"", "support@kontum-gov{n}.xyz"), ("Lottery Board", "claims{n}@intl-lotto.example"),
             ("Tài chính 24h", "vay{n}@taichinh24h.example"), ("Billing", "billing{n}@invoices-online.example")]

def fill(s, n):
    return s.format(n=n, q=1 + n % 4, m=1 + n % 12, d=1 + n % 28, u="STTTT", p=PEOPLE[n % len(PEOPLE)])

def when(n):
    return BASE + datetime.timedelta(hours=7 * n, minutes=13 * n % 60)

def received(n, helo, ip):
    return (f"Received: from {helo} ({helo} [{ip}])\n\tby mx.kontum.gov.vn with ESMTPS id q{n:05d};\n\t"
            f"{email.utils.format_datetime(when(n) + datetime.timedelta(minutes=2))}\n")

def ham(n):
    unit, abbr = UNITS[n % len(UNITS)]
    person = PEOPLE[n % len(PEOPLE)]
    to = PEOPLE[(n + 3) % len(PEOPLE)]
    sender = f"vanphong.{abbr}@kontum.gov.vn"
    subj = fill(R.choice(HAM_SUBJ), n)
    body = "\n\n".join(fill(s, n + i) for i, s in enumerate(R.sample(HAM_BODY, 5)))
    body += f"\n\n{person}\n{unit}\n"
    if n % 5 == 0:
        body += "Xem chi tiết tại https://kontum.gov.vn/van-ban\n"
    head = (f"Return-Path: <{sender}>\n" + received(n, f"mail.{abbr}.kontum.gov.vn", f"10.10.{n % 200}.5") +
            f"Authentication-Results: mx.kontum.gov.vn; spf=pass smtp.mailfrom={sender}; dkim=pass; dmarc=pass\n"
            f"From: {email.utils.formataddr((person, sender))}\nTo: {email.utils.formataddr((to, 'canbo' + str(n) + '@kontum.gov.vn'))}\n"
            f"Subject: {email.header.Header(subj, 'utf-8').encode()}\nDate: {email.utils.format_datetime(when(n))}\n"
            f"Message-ID: <{n}.{abbr}@kontum.gov.vn>\nMIME-Version: 1.0\n")
    if n % 4 == 1:  # newsletters: HTML with a text alternative
        html = "".join(f"<p>{line}</p>" for line in body.split("\n\n"))
        html += '<p>Trang tin: <a href="https://kontum.gov.vn/ban-tin">https://kontum.gov.vn/ban-tin</a></p>'
        return head + ('Content-Type: multipart/alternative; boundary="b"\n\n--b\nContent-Type: text/plain; charset=utf-8\n'
                       'Content-Transfer-Encoding: 8bit\n\n' + body + '\n--b\nContent-Type: text/html; charset=utf-8\n'
                       'Content-Transfer-Encoding: 8bit\n\n<html><body>' + html + '</body></html>\n--b--\n')
    return head + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body

def spam(n):
    name, addr = SPAM_FROM[n % len(SPAM_FROM)]
    addr = addr.format(n=n)
    subj = fill(R.choice(SPAM_SUBJ), n)
    lines = [fill(s, n + i) for i, s in enumerate(R.sample(SPAM_BODY, 4))]
    link = SPAM_LINKS[n % len(SPAM_LINKS)].format(n=n)
    ip = f"{45 + n % 100}.{n * 7 % 250}.{n * 13 % 250}.{n % 250 + 1}"
    auth = ["spf=fail", "spf=softfail", "spf=none", "spf=pass"][n % 4]
    head = (f"Return-Path: <{addr}>\n" + received(n, f"host{n}.example", ip) +
            f"Authentication-Results: mx.kontum.gov.vn; {auth} smtp.mailfrom={addr}; dkim=none; dmarc=none\n"
            f"From: {name} <{addr}>\n" +
            ("To: undisclosed-recipients:;\n" if n % 3 == 0 else f"To: <canbo{n}@kontum.gov.vn>\n") +
            f"Subject: {email.header.Header(subj, 'utf-8').encode()}\n")
    if n % 5 != 2:
        head += f"Date: {email.utils.format_datetime(when(n))}\n"
    if n % 4 != 3:
        head += f"Message-ID: <{R.randrange(10**9)}@{addr.split('@')[1]}>\n"
    head += "MIME-Version: 1.0\n"
    if n % 2 == 0:  # HTML only; sometimes the link text names a bank
        shown = "https://www.vietcombank.com.vn/dang-nhap" if n % 4 == 0 else "Bấm vào đây"
        html = "".join(f"<p>{l}</p>" for l in lines) + f'<p><a href="{link}">{shown}</a></p>'
        return head + "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n<html><body>" + html + "</body></html>\n"
    return head + "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + "\n\n".join(lines) + f"\n\n{link}\n"

import email.header
for kind, make, count in (("ham", ham, 36), ("spam", spam, 36)):
    os.makedirs(f"tests/corpus/{kind}", exist_ok=True)
    for n in range(count):
        with open(f"tests/corpus/{kind}/vi-{n:03d}.eml", "w", encoding="utf-8") as f:
            f.write(make(n))
