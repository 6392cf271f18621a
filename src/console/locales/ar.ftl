# وحدة تحكم الضابط في tracenet: العربية (من اليمين إلى اليسار).

skip-to-content = الانتقال إلى المحتوى
nav-label = القائمة الرئيسية
nav-trace = تعقّب سلاح
nav-traces = عمليات التعقّب
nav-inbox = الطلبات الواردة
nav-alerts = التنبيهات
nav-registry = السجل
nav-reports = التقارير
nav-federation = الاتحاد
language = اللغة
language-switch = تغيير
signed-in-as = متصل باسم { $name }
password-change = تغيير كلمة المرور
sign-out = تسجيل الخروج
back-home = العودة إلى وحدة التحكم
problem-title = حدث خطأ

error-too-large = النموذج كبير جدًا.
error-csrf = هذا النموذج لم يصدر عن جلستك (رمز الأمان مفقود أو منتهي الصلاحية). أعد تحميل الصفحة وحاول مرة أخرى.
error-role = دورك لا يسمح بفتح هذه الصفحة. اطلب ذلك من المسؤول إن احتجت إليها.
error-not-found = هذه الصفحة غير موجودة.
error-random = تعذّر على العقدة توليد رقم عشوائي. حاول مرة أخرى، وإن تكرر ذلك فأبلغ مسؤول العقدة.
error-storage = تعذّر على العقدة القراءة من مخزنها أو الكتابة فيه. سجل العقدة يبيّن السبب.
error-audit = لا يمكن الكتابة في سجل التدقيق، لذلك لم يُنفَّذ شيء. أبلغ مسؤول العقدة.
error-no-trace = لا توجد عملية التعقّب هذه على هذه العقدة.
error-nothing-to-retry = قدّمت كل دولة متوقعة ردها النهائي: لا شيء يُعاد طلبه.
error-form = أحد حقول النموذج مفقود أو ليس من الخيارات المعروضة.
error-decision = تعذّر اتخاذ القرار أو إيصاله. قائمة الطلبات تبيّن حالته.
error-no-registry = لا تحتفظ هذه العقدة بسجل.
error-no-record = هذا القيد غير موجود في هذا السجل.
error-period = فترة التقرير تاريخان بصيغة YYYY-MM-DD، ابتداءً من 1970-01-01، لا يقع الأول بعد الثاني.

login-title = تسجيل الدخول
login-intro = سجّل الدخول بالحساب الذي سلّمه إليك مسؤول وحدتك.
login-name = اسم الضابط
login-password = كلمة المرور
login-submit = دخول
login-wrong = الاسم أو كلمة المرور غير صحيحة.
login-locked = محاولات دخول فاشلة كثيرة لهذا الاسم. حاول مرة أخرى بعد { $minutes ->
    [one] دقيقة واحدة
   *[other] { $minutes_text } دقيقة
}.
login-busy = محاولات دخول كثيرة في آن واحد على وحدة التحكم هذه. حاول مرة أخرى بعد دقيقة.

password-title = اختر كلمة المرور
password-first = دخلت بكلمة مرور لمرة واحدة. اختر كلمة مرورك قبل المتابعة.
password-current = كلمة المرور الحالية
password-new = كلمة المرور الجديدة
password-again = أعد كتابة كلمة المرور الجديدة
password-submit = تغيير كلمة المرور
password-mismatch = كلمتا المرور الجديدتان غير متطابقتين.
password-changed = تم تغيير كلمة المرور.
password-current-wrong = كلمة المرور الحالية غير صحيحة.
password-weak = يجب ألا تقل كلمة المرور الجديدة عن { $count_text } حرفًا.
password-same = يجب أن تختلف كلمة المرور الجديدة عن الحالية.

traces-title = عمليات التعقّب
traces-filter-status = الحالة
traces-filter-any = الكل
traces-filter-state = الدولة
traces-filter-from = المرسلة منذ
traces-filter-apply = تصفية
traces-none = لا توجد عملية تعقّب مطابقة.
traces-created = أُرسلت
traces-marking = الوسم
traces-status = الحالة
traces-states = الحائزون المتوقعون
traces-answers = الردود
answers-count = { $count ->
    [one] { $count_text } رد
   *[other] { $count_text } ردود
}
records-count = { $count ->
    [one] { $count_text } قيد
   *[other] { $count_text } قيود
}
events-count = { $count ->
    [one] { $count_text } حدث
   *[other] { $count_text } أحداث
}
seconds = { $count ->
    [one] { $count_text } ثانية
   *[other] { $count_text } ثانية
}

trace-new-title = تعقّب سلاح
trace-new-intro = صِف وسوم السلاح كما تظهر عليه (ISACS 05.31). لا يُرسَل سوى الوسوم وأساس الطلب والغرض منه؛ تبقى قضيتك على هذه العقدة.
trace-not-sent = لم يُرسَل طلب التعقّب:
trace-marking = الوسوم
trace-maker = الشركة المصنّعة
trace-maker-hint = كما هي موسومة؛ الاقتراحات من جدول المصنّعين.
trace-country = بلد الصنع
trace-country-hint = حرفان (ISO 3166)، مثل BE.
trace-serial = الرقم التسلسلي
trace-serial-hint = كما هو موسوم. اكتب ? مكان كل حرف لا يمكن قراءته.
trace-factory-code = رمز المصنع
trace-factory-hint = حين يحمل السلاح رمز مصنع بدلًا من اسم المصنّع (أو بجانبه)، مثل 66.
trace-imports = وسوم الاستيراد
trace-imports-hint = البلد، والسنة إن كانت موسومة: BE:2009. وسم في كل خانة.
trace-weapon = السلاح
trace-category = الفئة
trace-calibre = العيار
trace-model = الطراز
trace-request = الطلب
trace-ground = الأساس القانوني
trace-use = الغرض المقصود
trace-urgent = عاجل
trace-justification = سبب الاستعجال
trace-justify-urgent = اذكر سبب استعجال طلب التعقّب.
trace-local = يبقى على هذه العقدة
trace-local-hint = لا يُرسَل أبدًا إلى دولة أخرى.
trace-case = مرجع القضية
trace-note = ملاحظات
trace-send = إرسال طلب التعقّب
trace-title = عملية تعقّب
trace-sent = أُرسلت
trace-deadline = تنتظر الردود حتى
trace-digest = الاستعلام
trace-officer = أرسلها
trace-retry = إعادة السؤال لمن لم يرد
trace-evidence = ملف الأدلة
trace-print = طباعة تقرير التعقّب
trace-refresh = تحديث
trace-status = الحالة

status-sent = مرسلة
status-acknowledged = تم الإقرار بالاستلام
status-answered = تم الرد
status-partial = جزئية
status-timed-out = انتهت المهلة

diversion-title = نقطة التحويل:
diversion-sentence = خرج السلاح من الحيازة المشروعة في { $state }، وكان بحوزة { $holder }، حين { $event } ({ $date }).
diversion-sentence-no-holder = خرج السلاح من الحيازة المشروعة في { $state } حين { $event } ({ $date }).
diversion-sentence-undated = خرج السلاح من الحيازة المشروعة في { $state }.
last-recorded-sentence = آخر قيد في { $state } ({ $date })؛ لم يُبلَّغ قط عن مصير السلاح.
last-recorded-exported = آخر قيد: خروجه من { $state } إلى { $to } ({ $date })؛ لا قيد له لدى { $to }، ولم يُبلَّغ قط عن مصير السلاح.

holders-title = الحائزون المتوقعون
holders-none = لا يُعرف عضو يحتفظ بقيود تحت هذا الوسم.
holder-answered = ردّ
holder-withheld = حُجب الرد: { $reason }
holder-refused = رُفض: { $reason }؛ يمكن إعادة السؤال بعد { $retry }
holder-declined = اعتذر: { $reason }
holder-acknowledged = أقرّ بالاستلام: يقرر شخص هناك
holder-awaiting = بانتظار الرد
holder-unreachable = يتعذّر الوصول إليه منذ { $since }

answers-title = الردود
answers-none = لا رد بعد.
answers-state = الدولة
answers-received = وصل في
answers-signature = التوقيع
answers-disclosed = ما كشفه
badge-verified = موثّق (إصدار قائمة الأعضاء { $version })
badge-not-verified = غير موثّق: { $reason }
outcome-hit = { $records }، { $events }
outcome-no-hit = لا قيد لهذا السلاح
outcome-withheld = محجوب: { $reason }
outcome-acknowledged = استُلم؛ يقرر شخص
outcome-too-many = تطابق { $count_text } قيود؛ أعطِ المزيد من الوسم
outcome-refused = مرفوض
outcome-unreadable = غير مقروء

timeline-title = سلسلة الحيازة
timeline-none = لا يُعرف أي حدث بعد.
source-answer = الرد { $number } من { $state }
source-own-registry = سجلنا
map-title = مسار السلاح
map-caption = البلدان التي مر بها السلاح بالترتيب؛ نقطة التحويل بالأحمر.

gaps-title = الثغرات
gap-withheld = حجبت { $state } ردها: { $reason }
gap-withheld-pattern = حجبت { $state } ردها على رقم تسلسلي فيه أحرف غير مقروءة: { $reason }. قد تحوز هذا السلاح وقد لا تحوزه: فمثل هذا الرقم لا يصل أبدًا إلى السجلات السرية لدولة، وقد يطابق سجلات أسلحة أخرى. التعقّب السري يبيّن أكثر، مع ? مكان كل حرف غير مقروء (لا يمكن تعقّب * سرًا)، أو اسأل { $state } خارج tracenet
gap-no-answer = لم ترد { $state }
gap-not-a-member = { $state } ليست عضوا في الاتحاد: تستمر السجلات هناك؛ اسألها خارج tracenet
gap-mismatch = أجابت { $state } بسجلات لرقم تسلسلي غير الذي جرى تعقّبه؛ لا تُستخدم في السلسلة (اسأل { $state } عن السبب)
gap-no-history = لدى { $state } سجل لهذا السلاح بلا أحداث: مساره غير مدوّن هناك (اسأل { $state } خارج tracenet)
gap-unreachable = يتعذّر الوصول إلى { $state } منذ { $since }
gap-refused = رفضت { $state }: { $reason }
gap-declined = اعتذرت { $state }: { $reason }
gap-trimmed = أغفل رد { $state } { $count } أحداث ليتسع
gap-ambiguous = لدى { $state } { $count } قيود مطابقة
gap-no-holder = لا يحتفظ أي عضو بقيود تحت { $prefix }
gap-not-connected = لم تكن هذه العقدة متصلة بأي عضو عند إرسال الطلب
gap-no-record = لا تحتفظ أي دولة ردّت بقيد لهذا السلاح

event-manufactured = صُنع
event-exported = صُدّر
event-imported = استُورد
event-transferred = نُقل
event-lost = فُقد
event-stolen = سُرق
event-seized = ضُبط
event-surrendered = سُلّم
event-deactivated = عُطّل
event-destroyed = أُتلف

held-by-manufacturer = الشركة المصنّعة
held-by-state-military = القوات المسلحة
held-by-state-police = الشرطة
held-by-state-other = جهة حكومية أخرى
held-by-licensed-dealer = تاجر مرخّص
held-by-licensed-civilian = مدني مرخّص
held-by-unknown = حائز مجهول

category-pistol = مسدس
category-revolver = مسدس دوّار
category-rifle = بندقية
category-carbine = بندقية قصيرة
category-assault-rifle = بندقية هجومية
category-submachine-gun = رشاش قصير
category-shotgun = بندقية خرطوش
category-light-machine-gun = رشاش خفيف
category-heavy-machine-gun = رشاش ثقيل
category-grenade-launcher = قاذف قنابل
category-mortar = هاون
category-other = أخرى

ground-seized-in-crime = ضُبط في جريمة
ground-illicit-possession = حيازة غير مشروعة
ground-illicit-transfer = نقل غير مشروع
ground-found-abandoned = عُثر عليه أو تُرك
ground-conflict-recovery = استُرد في نزاع
ground-altered-markings = وسوم محوّرة
ground-other = أخرى

use-criminal-investigation = تحقيق جنائي
use-judicial-proceedings = إجراءات قضائية
use-diversion-analysis = تحليل التحويل
use-sanctions-monitoring = رصد الجزاءات
use-other = أخرى

reason-ongoing-investigation = تحقيق جارٍ
reason-national-law = القانون الوطني
reason-other = سبب آخر
reason-rate-limited = طلبات كثيرة في آن واحد
reason-clock-skew = فرق كبير بين الساعات
reason-expired = انتهت صلاحية الطلب
reason-ttl-too-long = مدة صلاحية الطلب أطول من المسموح
reason-quota-full = طلبات منتظرة كثيرة
reason-overloaded = العقدة مثقلة
reason-too-large = الطلب كبير جدًا
reason-not-in-roster = ليس في قائمة الأعضاء

disclose-full = كل شيء
disclose-no-holders = دون فئات الحائزين
disclose-month = التواريخ بالشهر
disclose-year = التواريخ بالسنة
disclose-acknowledge-only = الإقرار بالاستلام فقط

review-urgent = طلب التعقّب عاجل
review-confidential = طابق قيدًا سريًا
review-outside-groups = الدولة الطالبة خارج مجموعات التبادل لدينا

quality-exact = مطابق
quality-folded = أحرف متشابهة أو علامات تشكيل
quality-transliterated = بالنقل الحرفي
quality-embedded-letters = أحرف في الرقم
quality-wildcard = مع أحرف غير مقروءة

inbox-title = الطلبات الواردة
inbox-intro = طلبات من دول أخرى تنتظر قرار شخص.
inbox-none = لا طلبات منتظرة.
inbox-requester = الدولة الطالبة
inbox-why = سبب الانتظار
inbox-received = وصل في
inbox-deadline = يُقرَّر قبل
inbox-matched = القيود المطابقة
inbox-matched-hint = تظهر هنا فقط: لا تغادر هذه التفاصيل العقدة إلا إذا وافقت، وبحسب مستوى الكشف فقط.
inbox-no-match = لا قيد مطابق.
inbox-disclose = الكشف
inbox-approve = موافقة
inbox-reason = السبب
inbox-refuse = رفض
inbox-older = قرارات أقدم
inbox-lapsed = لم يُبتّ فيه قبل موعده النهائي: لم يُبلَّغ الطالب بشيء آخر
inbox-approved = تمت الموافقة ({ $level }) في { $at }
inbox-refused = رُفض ({ $reason }) في { $at }

alerts-title = التنبيهات
alerts-intro = أسلحة مسجلة هنا مفقودة أو مسروقة تعقّبتها دولة أخرى.
alerts-none = لا تنبيهات.
alerts-older = تنبيهات أقدم
alerts-at = متى
alerts-event = مسجل هنا على أنه
alerts-more = { $n ->
    [one] وسجل آخر مسجل هنا على أنه مفقود أو مسروق طابق التعقّب نفسه.
   *[other] و{ $n_text } سجلات أخرى مسجلة هنا على أنها مفقودة أو مسروقة طابقت التعقّب نفسه.
}

registry-title = السجل
registry-holds = يضم هذا السجل { $count }.
registry-search = بحث
registry-none = لا قيد مطابق.
registry-quality = المطابقة
registry-reasons = سبب المطابقة
record-title = قيد
record-id = القيد
record-local-hint = قيد وطني: يظهر على هذه العقدة فقط.
record-confidential = سري
record-confidential-hint = يقرر شخص قبل الكشف عن أي شيء منه.
record-life = حياة السلاح

reports-title = التقارير
reports-csv = تنزيل بصيغة CSV
reports-from = من
reports-to = إلى
reports-show = عرض
reports-period = من { $from } إلى { $to }، مع احتساب اليومين. عمليات التعقّب المرسلة شهريًا: آخر اثني عشر شهرًا شهدت عمليات.
reports-counts = عمليات التعقّب والردود
reports-answer-times = الوقت الوسيط للرد، لكل دولة
reports-slowest-answers = أبطأ رد، لكل دولة
reports-without-final-answer = عمليات تتبع انتهت دون رد نهائي، لكل دولة
reports-n-of-total = { $n } من { $total }
reports-no-answers = لا رد بعد.
report-hit-rate = عمليات التعقّب التي تلقت ردًا
report-sdg-traced = هدف التنمية المستدامة 16.4.2: أسلحة تم تعقّبها
report-sdg-origin = هدف التنمية المستدامة 16.4.2: تحدّد المنشأ
report-traces-sent = عمليات تعقّب مرسلة
report-traces-answered = عمليات تعقّب تم الرد عليها
report-traces-partial = عمليات تعقّب بردود جزئية
report-traces-timed-out = عمليات تعقّب انتهت مهلتها
report-queries-received = استعلامات واردة
report-answers-sent = ردود مرسلة
report-answers-withheld = ردود محجوبة
report-traces-open = عمليات تعقّب لا تزال مفتوحة
report-queries-refused = استعلامات مرفوضة
report-answers-acknowledged = ردود بإشعار استلام (يقرّر شخص)

federation-title = الاتحاد
federation-roster = قائمة الأعضاء
federation-roster-version = الإصدار { $version }
federation-roster-until = القائمة صالحة حتى
federation-audit-head = رأس سجل التدقيق
federation-verify = التحقق من سجل التدقيق
federation-peers = الأعضاء
federation-peer = النظير
federation-connected = متصل
federation-yes = نعم
federation-no = لا
federation-not-linked = بلا اتصال دائم (يُتّصل به عندما يعنيه طلب تتبّع)
audit-verified = سجل التدقيق سليم: تم التحقق من { $count_text } قيود.
audit-broken = سجل التدقيق مكسور في { $count_text } مواضع. أبلغ مسؤول العقدة.

date-format = { $day } { $month } { $year }
instant-format = { $date }، { $time } بالتوقيت العالمي
time-beyond-calendar = وقت يونكس { $secs } (خارج التقويم: وقت خاطئ)
month-1 = يناير
month-2 = فبراير
month-3 = مارس
month-4 = أبريل
month-5 = مايو
month-6 = يونيو
month-7 = يوليو
month-8 = أغسطس
month-9 = سبتمبر
month-10 = أكتوبر
month-11 = نوفمبر
month-12 = ديسمبر

import-title = استيراد القيود
import-file = الملف
import-file-hint = JSON Lines أو CSV كما يقرؤها الأمر `tracenet registry import`؛ حتى 2 غيغابايت.
import-format = الصيغة
import-format-auto = بحسب اسم الملف
import-delimiter = فاصل CSV
import-encoding = الترميز
import-submit = استيراد
import-too-large = الملف أكبر مما تقبله وحدة التحكم (2 غيغابايت)؛ استورده بالأمر `tracenet registry import` على جهاز العقدة.
import-no-file = اختر ملفًا لاستيراده.
import-by = بدأه { $name }
import-progress = التقدم
import-records-read = قُرئ { $count_text } قيد
import-running = الاستيراد جارٍ؛ تتحدث هذه الصفحة تلقائيًا.
import-failed = توقف الاستيراد:
import-counts = أُضيف { $added }، وحُدّث { $updated }، ولم يتغير { $unchanged }، ورُفض { $rejected }.
import-rejected-title = الأسطر المرفوضة
import-line = السطر
import-field = الحقل
import-reason = السبب
import-more-rejected = … و{ $count_text } أسطر مرفوضة أخرى.

nav-officers = الضباط
officers-title = حسابات الضباط
officers-intro = حسابات وحدة التحكم في هذه العقدة. الضابط يتعقّب ويطّلع؛ والمراجع يقرر أيضًا في الطلبات الواردة؛ والمسؤول يدير أيضًا السجل والحسابات.
officers-made = للحساب { $name } كلمة المرور هذه لمرة واحدة:
officers-made-hint = سلّمها إلى الضابط شخصيًا. لا تظهر إلا الآن ويجب تغييرها عند أول دخول.
officers-role = الدور
officers-since = منذ
officers-must-change = (لم تُغيَّر كلمة المرور المؤقتة بعد)
officers-reset = كلمة مرور جديدة
officers-remove = حذف
officers-add = إضافة حساب
officers-not-yourself = لا يمكنك حذف حسابك.
officers-exists = الحساب { $name } موجود بالفعل؛ يمنحه زر «كلمة مرور جديدة» كلمة مرور جديدة.
officers-exists-yourself = { $name } هو حسابك أنت: «تغيير كلمة المرور» أعلى الصفحة يغيّر كلمة مروره.
officers-missing = لا يوجد حساب { $name }؛ تعرض القائمة أدناه الحسابات.
role-officer = ضابط
role-reviewer = مراجع
role-admin = مسؤول

event-to = إلى { $state }
event-from = من { $state }
event-with = مع { $state }
reports-per-month = عمليات التعقّب المرسلة شهريًا
reports-missing = تنقص سجلَّ التدقيق القيودُ { $ranges } (ملف أرشيف حُذف أو أُعيدت تسميته، أو أقدم القيود أُزيلت من المخزن): لا تشمل الأرقام ما يقع منها في هذه الفترة. شغّل tracenet audit verify على العقدة.
import-choose-format = اسم الملف لا يبيّن صيغته (.jsonl أو .csv أو .tsv): اخترها في النموذج.
trace-force = أرسل حتى لو لم يعرف جدول المصنّعين هذا المصنّع في هذا البلد
trace-force-hint = تحقّق من الكتابة، أو اختر «أرسل حتى لو لم يعرف جدول المصنّعين هذا المصنّع».
trace-force-country-hint = صحّح بلد الصنع، أو اختر «أرسل حتى لو لم يعرف جدول المصنّعين هذا المصنّع».
trace-send-in-clear-hint = ألغِ اختيار «أعمى: لا يُرسَل الوسم إلا إلى الدول التي تحتفظ بالسلاح» لإرساله مكشوفًا فتقرأه كل دولة حائزة متوقَّعة، أو ضيّق قراءة الرقم التسلسلي.
trace-maker-or-code-hint = أدخل الشركة المصنّعة، أو رمز المصنع حين يحمله السلاح بدلًا منها، أو كليهما.
trace-model-hint = يُحفظ مع ملاحظات القضية على هذه العقدة؛ لا يُرسَل.
trace-confidential = تعقّب سري
trace-confidential-box = أعمى: لا يُرسَل الوسم إلا إلى الدول التي تحتفظ بالسلاح
trace-confidential-hint = لا يعلم الأعضاء الآخرون إلا أن تعقّبًا أعمى جرى لهذا المصنّع؛ والدول التي لا يمكن سؤالها عميانًا تنتظر قرارك.
blind-title = سُئلت عميانًا
blind-asked = الرد الأعمى
blind-received = تلقّت الوسم
blind-choose = تعذّر سؤال بعض الدول عميانًا. تبقى قيودها غير مقروءة ما لم ترسل إليها الوسم صريحًا.
blind-send-clear = أرسل إليها الوسم صريحًا
blind-send-clear-one = إلى هذه الدولة فقط
blind-pending = بالانتظار
blind-unreachable = يتعذّر الوصول
blind-holds-nothing = لا تحتفظ بشيء تحت هذه البادئة
blind-no-hit = لا تحتفظ به
blind-hit = تحتفظ به: أُرسل الاستعلام
blind-no-filter = لا مرشّح أعمى (عقدة أقدم)
blind-beyond-bound = أحرف غير مقروءة أكثر مما يسمح بالسؤال الأعمى
blind-refused = مرفوض (الحصة)
blind-failed = فشل
traces-older = عمليات تعقّب أقدم
