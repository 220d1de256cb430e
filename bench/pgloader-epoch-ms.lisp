;;; Benchmark only: the transform an expert would load into pgloader (--load-lisp-file) so it can move Prisma's
;;; SQLite DateTime columns, which hold epoch milliseconds (integers) and text in the same column. pgloader's own
;;; SQLite casts turn the integers into errors. Integers become UTC `YYYY-MM-DD HH:MM:SS.mmm+00`; text is passed on
;;; for PostgreSQL to parse.
(in-package #:pgloader.transforms)

(defun epoch-ms-or-text-to-timestamp (value)
  (cond ((null value) nil)
        ((integerp value)
         (multiple-value-bind (seconds millis) (floor value 1000)
           ;; Universal time counts from 1900; the Unix epoch is 2208988800 seconds later.
           (multiple-value-bind (s mi h d mo y) (decode-universal-time (+ seconds 2208988800) 0)
             (format nil "~4,'0d-~2,'0d-~2,'0d ~2,'0d:~2,'0d:~2,'0d.~3,'0d+00" y mo d h mi s millis))))
        ((stringp value) value)
        (t (princ-to-string value))))
